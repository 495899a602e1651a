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
            case .disconnected:
                if let refused = shared.connectRefusal { (peer, state, refusal) = (refused.peer, .refused, refused.reason) }
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
                writesReplicated: shared.writesReplicated, writesDegraded: shared.writesDegraded,
                peerFlushesSent: shared.peerFlushesSent, peerFlushesAnswered: shared.peerFlushesAnswered)
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

    /// Asks the peer to make everything it acknowledged durable, counted for
    /// ``status`` (the FLUSHes sent and answered an operator sees).
    func flushPeer(_ link: PeerLink) async -> Result<PeerLink.Answer, ReplicationError> {
        await answer(toFlush: beginPeerFlush(link))
    }

    /// Sends the peer its FLUSH now, on the caller's thread, so that the
    /// local flush can run meanwhile without a child task (a task woke a
    /// pool thread per FLUSH); ``answer(toFlush:)`` waits for it.
    func beginPeerFlush(_ link: PeerLink) -> PendingAnswer {
        shared.withLock { $0.peerFlushesSent += 1 }
        return link.begin(FrameHeader(.flush, tag: link.makeTag()))
    }

    func answer(toFlush pending: PendingAnswer) async -> Result<PeerLink.Answer, ReplicationError> {
        let answer = await pending.answer()
        if case .success = answer { shared.withLock { $0.peerFlushesAnswered += 1 } }
        return answer
    }

    /// The connector's last attempt on `peer` was refused before a session
    /// began (nil: it got through), for ``status``.
    func noteConnectRefusal(_ refusal: (peer: String, reason: String)?) {
        shared.withLock { $0.connectRefusal = refusal }
    }
}
