/// A replicated volume's state as `buse status` shows it and metrics export it.
public struct ReplicationStatus: Codable, Sendable, Equatable {
    public enum PeerState: String, Codable, Sendable {
        case disconnected, connecting, resyncing
        case inSync = "in-sync"
        case refused
    }

    public var role: VolumeState.Role
    public var volumeID: UInt64
    public var generation: UInt64
    public var history: [UInt64]
    public var consistent: Bool
    public var peer: String?
    public var peerState: PeerState
    public var refusal: String?
    public var policy: DegradedPolicy?
    /// Writes the peer has not confirmed as durable, and their bytes.
    public var lagOperations: Int
    public var lagBytes: UInt64
    /// Regions the log marks for resync (after the record bound, or a crash).
    public var dirtyBytes: UInt64
    public var resyncDone: UInt64
    public var resyncTotal: UInt64
    public var writesReplicated: UInt64
    public var writesDegraded: UInt64
    /// The primary's FLUSH requests to its peer (client flushes and resync
    /// checkpoints), and those the peer answered as done; nil on a secondary.
    public var peerFlushesSent: UInt64?
    public var peerFlushesAnswered: UInt64?

    /// Resync progress as a percentage, when one runs.
    public var resyncPercent: Double? {
        resyncTotal == 0 ? nil : Double(resyncDone) * 100 / Double(resyncTotal)
    }
}
