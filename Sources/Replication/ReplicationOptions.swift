/// What the primary does with client writes while its peer is away.
public enum DegradedPolicy: String, Sendable, CaseIterable, Codable {
    /// Keep serving; the log remembers what the peer missed (the default).
    case `continue`
    /// Hold writes and flushes until the peer is back and in sync.
    case suspend
    /// Fail writes and flushes with EIO until the peer is back.
    case fail
}

public struct ReplicationOptions: Sendable {
    public var policy: DegradedPolicy = .continue
    /// Resync bandwidth cap in bytes per second; nil for none.
    public var resyncRate: UInt64?
    /// Bytes per resync or verify request.
    public var chunkLength: Int = 1 << 20
    /// Resync requests in flight at once. Each holds a chunk in memory on
    /// both nodes: 8 rather than 16 took 8 MiB off the primary's peak RSS
    /// (63.7-65.3 to 55.4-56.6 MiB after a 1 GiB full copy and 4K writes)
    /// with no loss of resync speed (512 MiB, alternating, median of 3:
    /// 943 MB/s with 16, 978 with 8; loopback needs far less in flight).
    public var resyncDepth: Int = 8
    /// Bytes a resync copies between checkpoints (a peer flush, then the log
    /// forgets what is done): how much a resync cut short copies again.
    public var resyncCheckpoint: UInt64 = 64 << 20
    /// The peer is given up on (and the link dropped) when a request waits longer.
    public var peerTimeout: Duration = .seconds(10)
    /// Where the replication tasks run; nil for the global executor. The
    /// simulation passes one serial executor so every run of a seed is the same.
    public var executor: (any TaskExecutor)?
    /// Host and process, shown to the peer.
    public var nodeName = "buse"

    public init() {}
}
