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

    public func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    public init(decoding bytes: [UInt8]) throws(ReplicationError) {
        do {
            self = try JSONDecoder().decode(Greeting.self, from: Data(bytes))
        } catch {
            throw .malformed("unreadable greeting: \(error)")
        }
        guard protocolVersion == Self.protocolVersion else {
            throw .refused("peer speaks replication protocol \(protocolVersion), this node \(Self.protocolVersion)")
        }
    }
}

extension VolumeState {
    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    init(decoding bytes: [UInt8]) throws(ReplicationError) {
        do {
            self = try JSONDecoder().decode(VolumeState.self, from: Data(bytes))
        } catch {
            throw .malformed("unreadable volume state: \(error)")
        }
    }
}

/// The resyncBegin document: the peer marks itself inconsistent until
/// resyncDone; for a full resync it first takes the primary's volume id and
/// generation, so that a resync cut short resumes instead of restarting.
public struct ResyncPlan: Codable, Equatable, Sendable {
    public var full: Bool
    public var volume: VolumeState

    public func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    public init(full: Bool, volume: VolumeState) {
        self.full = full
        self.volume = volume
    }

    public init(decoding bytes: [UInt8]) throws(ReplicationError) {
        do {
            self = try JSONDecoder().decode(ResyncPlan.self, from: Data(bytes))
        } catch {
            throw .malformed("unreadable resync plan: \(error)")
        }
    }
}
