import Synchronization

/// What `buse status`, the metrics and the connector read.
extension ReplicatedDevice {
    public var status: ReplicationStatus {
        let backlog = (try? journal.backlog()) ?? (records: 0, bytes: 0)
        let dirty = ((try? journal.dirtyRanges()) ?? []).reduce(UInt64(0)) { $0 + UInt64($1.count) }
        return shared.withLock { shared in
            var peer: String?
            var state = ReplicationStatus.PeerState.disconnected
            var refusal: String?
            switch shared.pairing.state {
            case .disconnected: break
            case let .connecting(link): (peer, state) = (link.channel.peerName, .connecting)
            case let .resyncing(link): (peer, state) = (link.channel.peerName, .resyncing)
            case let .inSync(link): (peer, state) = (link.channel.peerName, .inSync)
            case let .refused(name, why): (peer, state, refusal) = (name, .refused, why)
            }
            return ReplicationStatus(
                role: .primary, volumeID: shared.volume.volumeID, generation: shared.volume.generation,
                history: shared.volume.history, consistent: shared.volume.consistent, peer: peer, peerState: state,
                refusal: refusal, policy: options.policy, lagOperations: backlog.records, lagBytes: backlog.bytes,
                dirtyBytes: dirty, resyncDone: shared.resyncDone, resyncTotal: shared.resyncTotal,
                writesReplicated: shared.writesReplicated, writesDegraded: shared.writesDegraded)
        }
    }

    public var volume: VolumeState { shared.withLock { $0.volume } }
    public var isClosed: Bool { shared.withLock { $0.pairing.isClosed } }
    /// Sessions that reached sync so far (the connector resets its backoff on progress).
    public var timesInSync: Int { shared.withLock { $0.pairing.timesInSync } }
    public var peerTimeout: Duration { options.peerTimeout }
    public var isInSync: Bool {
        shared.withLock { $0.pairing.isInSync }
    }
}
