import CLMDB

/// A failure of the transaction log, with the LMDB call and its error.
public enum JournalError: Error, CustomStringConvertible, Equatable {
    /// The map is full: raise the journal's size bound or let the peer catch up.
    case full(String)
    case lmdb(String, Int32)
    case corrupt(String)
    /// The log was closed; nothing more can be written to it.
    case closed

    init(_ call: String, _ code: Int32) {
        self = code == MDB_MAP_FULL ? .full(call) : .lmdb(call, code)
    }

    public var description: String {
        switch self {
        case let .full(call): "transaction log is full (\(call)); its size bound was reached"
        case let .lmdb(call, code): "\(call): \(String(cString: mdb_strerror(code)))"
        case let .corrupt(why): "transaction log is corrupt: \(why)"
        case .closed: "transaction log is closed"
        }
    }
}
