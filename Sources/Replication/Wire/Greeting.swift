import Foundation

/// The handshake document each side sends first: its state, and the byte
/// ranges it may hold differently from the other side (its own log's dirty
/// set, and after a crash its activity log).
public struct Greeting: Codable, Equatable, Sendable {
    public static let protocolVersion = 1

    public var protocolVersion: Int
    public var state: VolumeState
    /// [start, end) pairs.
    public var dirty: [[UInt64]]
    /// Host and process, for messages ("already replicating from …").
    public var node: String

    public init(state: VolumeState, dirty: [Range<UInt64>], node: String) {
        self.protocolVersion = Self.protocolVersion
        self.state = state
        self.dirty = dirty.map { [$0.lowerBound, $0.upperBound] }
        self.node = node
    }

    public var dirtyRanges: [Range<UInt64>] {
        dirty.compactMap { pair in pair.count == 2 && pair[0] < pair[1] ? pair[0]..<pair[1] : nil }
    }

    public init(decoding bytes: [UInt8]) throws(ReplicationError) {
        self = try Self.decodeDocument(bytes, "greeting")
        guard protocolVersion == Self.protocolVersion else {
            throw .refused("peer speaks replication protocol \(protocolVersion), this node \(Self.protocolVersion)")
        }
    }
}

/// A JSON document carried in a frame's payload (greetings, states, resync plans).
public protocol FrameDocument: Codable {}

extension FrameDocument {
    public func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    /// Decodes `bytes`; a document that does not parse breaks the protocol.
    static func decodeDocument(_ bytes: [UInt8], _ what: String) throws(ReplicationError) -> Self {
        do {
            return try JSONDecoder().decode(Self.self, from: Data(bytes))
        } catch {
            throw .malformed("unreadable \(what): \(error)")
        }
    }
}

extension Greeting: FrameDocument {}
extension ResyncPlan: FrameDocument {}
extension VolumeState: FrameDocument {
    init(decoding bytes: [UInt8]) throws(ReplicationError) {
        self = try Self.decodeDocument(bytes, "volume state")
    }
}

/// The resyncBegin document: the peer marks itself inconsistent until
/// resyncDone; for a full resync it first takes the primary's volume id and
/// generation, so that a resync cut short resumes instead of restarting.
public struct ResyncPlan: Codable, Equatable, Sendable {
    public var full: Bool
    public var volume: VolumeState

    public init(full: Bool, volume: VolumeState) {
        self.full = full
        self.volume = volume
    }

    public init(decoding bytes: [UInt8]) throws(ReplicationError) {
        self = try Self.decodeDocument(bytes, "resync plan")
    }
}
