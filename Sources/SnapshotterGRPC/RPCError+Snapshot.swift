import GRPCCore
import SnapshotterCore
import SnapshotterStorage

extension RPCError {
    /// The one table from storage errors to gRPC codes. containerd's
    /// `errdefs.FromGRPC` turns NotFound, AlreadyExists, FailedPrecondition and
    /// InvalidArgument back into its own errors; anything else reaches
    /// containerd as an unknown error carrying the message, so a full disk
    /// says "no space left on device".
    init(_ error: SnapshotStoreError) {
        switch error {
        case .refused(.notFound(let message)): self.init(code: .notFound, message: message)
        case .refused(.alreadyExists(let message)): self.init(code: .alreadyExists, message: message)
        case .refused(.failedPrecondition(let message)): self.init(code: .failedPrecondition, message: message)
        case .refused(.invalidArgument(let message)): self.init(code: .invalidArgument, message: message)
        case .noSpace(let message): self.init(code: .resourceExhausted, message: message)
        case .io(let message): self.init(code: .internalError, message: message)
        }
    }
}
