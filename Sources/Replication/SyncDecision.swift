/// What two nodes do when they pair, decided by the primary from both states.
public enum SyncDecision: Equatable, Sendable {
    /// Copy only what the primary's log marks dirty, plus what the peer
    /// reports it may have lost.
    case incremental
    /// Copy the whole volume: the peer is new, or further behind than the log tracks.
    case full
    /// Do not pair; the text is for the operator.
    case refuse(String)

    public static func decide(primary: VolumeState, peer: VolumeState) -> SyncDecision {
        if peer.size != primary.size {
            return .refuse("the peer's volume is \(peer.size) bytes and this one \(primary.size); sizes must match")
        }
        if peer.volumeID == 0 { return .full }
        if peer.volumeID != primary.volumeID {
            return .refuse(
                "the peer holds another volume (id \(hex(peer.volumeID)), this one is \(hex(primary.volumeID))); "
                    + "to overwrite it, run `buse discard-my-data` on the peer")
        }
        // Equal generations: the primary has not written without the peer
        // since they were in sync, beyond what its log still marks.
        if peer.generation == primary.generation { return .incremental }
        if peer.generation == primary.peerGeneration && primary.peerGeneration != 0 { return .incremental }
        if primary.history.contains(peer.generation) { return .full }
        if peer.history.contains(primary.generation) {
            return .refuse(
                "the peer is ahead: it has writes this node lacks (was it promoted?); "
                    + "rejoin this node as a secondary with `buse replica`")
        }
        return .refuse(
            "split brain: both nodes were written independently (this node at generation \(hex(primary.generation)), "
                + "the peer at \(hex(peer.generation))); choose the side whose changes to lose and run "
                + "`buse discard-my-data` there")
    }

    static func hex(_ value: UInt64) -> String { String(value, radix: 16) }
}
