import Glibc
public import SnapshotterCore

/// Why a storage call failed: a refusal by the snapshot rules, or an
/// operating failure. A full disk or a full LMDB map is `.noSpace`, which the
/// transport reports as ENOSPC; nothing was changed when it is thrown.
public enum SnapshotStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case refused(SnapshotError)
    /// ENOSPC or MDB_MAP_FULL.
    case noSpace(String)
    /// Any other failure of the disk or of LMDB, with what was being done.
    case io(String)

    /// An errno as an error: ENOSPC and EDQUOT are `.noSpace`.
    public init(_ what: String, errno code: Int32) {
        let text = "\(what): \(String(cString: strerror(code)))"
        self = code == ENOSPC || code == EDQUOT ? .noSpace(text) : .io(text)
    }

    public var message: String {
        switch self {
        case .refused(let error): error.message
        case .noSpace(let message), .io(let message): message
        }
    }

    public var description: String { message }
}
