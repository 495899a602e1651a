public import BlockDevices
public import Journal

/// Why replication could not go on. Each case says what an operator sees.
public enum ReplicationError: Error, Sendable, CustomStringConvertible {
    /// A frame broke the replication protocol (bad magic, unknown type, a
    /// range past the end, a checksum that does not match its data).
    case malformed(String)
    /// The other side refused to pair, with its reason (different volume,
    /// split brain, a second primary).
    case refused(String)
    /// The connection to the peer broke or could not be made.
    case linkLost(String)
    /// The local device failed.
    case device(DeviceError)
    /// The transaction log failed.
    case journal(JournalError)
    /// The node's replication state (its folder) is missing, locked or unreadable.
    case state(String)

    public var description: String {
        switch self {
        case let .malformed(why): "malformed replication frame: \(why)"
        case let .refused(why): "refused: \(why)"
        case let .linkLost(why): "replication link lost: \(why)"
        case let .device(error): "device: \(error.message)"
        case let .journal(error): "transaction log: \(error)"
        case let .state(why): why
        }
    }
}
