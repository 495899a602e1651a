/// A snapshot as containerd's snapshot service sees it: a key, a kind, an
/// optional committed parent, labels and timestamps, plus the numeric id
/// that names its directory (never the key, so no key reaches a path).
public struct Snapshot: Sendable, Hashable, Codable {
    /// containerd's `Kind`: `KIND_VIEW`, `KIND_ACTIVE`, `KIND_COMMITTED`.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case view  // KIND_VIEW: a read-only view of a committed parent
        case active  // KIND_ACTIVE: writable, may be committed
        case committed  // KIND_COMMITTED: read-only, may be a parent
    }

    public var key: String
    public var id: UInt64
    public var kind: Kind
    public var parent: String?
    public var labels: [String: String]
    public var created: Timestamp
    public var updated: Timestamp
    /// Bytes and inodes of a committed snapshot, measured when it was committed.
    public var usage: Usage?

    public init(
        key: String, id: UInt64, kind: Kind, parent: String?, labels: [String: String], created: Timestamp, updated: Timestamp,
        usage: Usage? = nil
    ) {
        self.key = key
        self.id = id
        self.kind = kind
        self.parent = parent
        self.labels = labels
        self.created = created
        self.updated = updated
        self.usage = usage
    }
}

/// Wall-clock time as protobuf's `Timestamp` carries it.
public struct Timestamp: Sendable, Hashable, Codable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

/// containerd's `Usage`: bytes on disk and inodes of a snapshot's own layer.
public struct Usage: Sendable, Hashable, Codable {
    public var size: Int64
    public var inodes: Int64

    public init(size: Int64, inodes: Int64) {
        self.size = size
        self.inodes = inodes
    }
}
