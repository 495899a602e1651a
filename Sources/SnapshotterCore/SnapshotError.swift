/// Why a snapshot call was refused. Each case maps to exactly one gRPC code
/// (containerd's `errdefs` maps the code back), and the message is the text
/// containerd's own snapshotters give.
public enum SnapshotError: Error, Sendable, Equatable {
    /// codes.NotFound
    case notFound(String)
    /// codes.AlreadyExists
    case alreadyExists(String)
    /// codes.FailedPrecondition
    case failedPrecondition(String)
    /// codes.InvalidArgument
    case invalidArgument(String)

    public var message: String {
        switch self {
        case .notFound(let message), .alreadyExists(let message), .failedPrecondition(let message),
            .invalidArgument(let message):
            message
        }
    }
}
