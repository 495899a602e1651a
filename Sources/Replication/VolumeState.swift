/// What one node knows about its copy of a replicated volume, kept in
/// `state.json` in the node's state folder and exchanged when two nodes pair.
///
/// Generations (as DRBD's data generation UUIDs): a node starts a new
/// generation whenever its copy starts to change without the peer following
/// (a primary writing while the peer is away, a promotion). The history of
/// past generations then tells, on reconnection, which side is ahead, which is
/// behind, and whether both changed independently (split brain).
public struct VolumeState: Codable, Equatable, Sendable {
    public enum Role: String, Codable, Sendable {
        case primary, secondary
    }

    /// Names the volume; 0 on a node that has never held one (a new peer).
    public var volumeID: UInt64 = 0
    public var size: UInt64
    public var role: Role
    /// The current generation (DRBD's current UUID); 0 on a node that has never held data.
    public var generation: UInt64 = 0
    /// Earlier generations, newest first (at most ``historyLimit``; DRBD's history UUIDs).
    public var history: [UInt64] = []
    /// Primary only: the generation the peer held when it was last in sync
    /// (DRBD's bitmap UUID).
    /// The log's dirty set is relative to it: a peer that comes back at this
    /// generation needs only what the log marks.
    public var peerGeneration: UInt64 = 0
    /// False while a resync into this node runs: its data is then a mix of
    /// old and new, fit to finish the resync but not to be promoted.
    public var consistent: Bool = true
    /// False while a process has the node open: found false at start-up, it
    /// means a crash, and every region the activity log marks may differ.
    public var cleanShutdown: Bool = true

    public static let historyLimit = 32

    public init(size: UInt64, role: Role) {
        self.size = size
        self.role = role
    }

    /// Starts a new generation: the copy is about to change on its own.
    public mutating func startGeneration(_ random: inout some RandomNumberGenerator) {
        if generation != 0 { history.insert(generation, at: 0) }
        history = Array(history.prefix(Self.historyLimit))
        generation = Self.newIdentifier(&random)
    }

    /// A random non-zero identifier under 2^53, so JSON carries it exactly.
    public static func newIdentifier(_ random: inout some RandomNumberGenerator) -> UInt64 {
        UInt64.random(in: 1..<(1 << 53), using: &random)
    }
}
