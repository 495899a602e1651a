import BlockDevices
import Journal
import Synchronization

extension ReplicatedDevice {
    /// Pairs with the peer at the other end of `channel` and replicates until
    /// the link ends, returning why. The connector calls it again (with
    /// backoff) for every new connection.
    ///
    /// Pairing: greetings are exchanged; ``SyncDecision`` compares the two
    /// states; a refusal is sent and returned as such. Otherwise the peer is
    /// resynced (writes are replicated live meanwhile) and then in sync.
    public func run(_ channel: any ReplicationChannel) async -> ReplicationError {
        let lost = LossSignal()
        let link = PeerLink(channel) { error in lost.signal(error) }
        if case let .rejectLink(why) = shared.withLock({ $0.pairing.event(.connect(link)) }) {
            let error = ReplicationError.refused(why)
            channel.close(error)
            return error
        }
        link.start()
        let failure = await pairAndResync(link)
        if let failure {
            link.fail(failure)
        } else {
            logger.info("replication: \(channel.peerName) is in sync")
        }
        let reason = await lost.wait()
        shared.withLock { shared in
            guard case .endSession = shared.pairing.event(.linkEnded(link, reason)) else { return }
            shared.resyncTotal = 0
            shared.resyncDone = 0
        }
        logger.warning("replication: link to \(channel.peerName) ended: \(reason)")
        return reason
    }

    /// The handshake and the resync; nil once in sync, else why not.
    private func pairAndResync(_ link: PeerLink) async -> ReplicationError? {
        let mine = shared.withLock { $0.volume }
        let hello = Frame.document(.hello, tag: link.makeTag(), Greeting(state: mine, dirty: [], node: options.nodeName).encoded())
        let peer: Greeting
        switch await link.request(hello) {
        case let .success(.document(bytes)):
            do { peer = try Greeting(decoding: bytes) } catch { return error }
        case let .failure(error): return error
        case .success: return .malformed("the peer answered hello with something else")
        }
        let decision = SyncDecision.decide(primary: mine, peer: peer.state)
        logger.info("replication: paired with \(peer.node) (generation \(String(peer.state.generation, radix: 16))): \(decision)")
        if case let .refuse(why) = decision {
            try? link.channel.send(Frame.document(.refuse, Array(why.utf8)))
            _ = shared.withLock { $0.pairing.event(.refuse(link, reason: why)) }
            logger.error("replication: refusing \(peer.node): \(why)")
            return .refused(why)
        }
        do {
            if decision == .full { try await journal.markDirty([0..<mine.size]) }
            try await journal.markDirty(peer.dirtyRanges)
            if decision == .full {
                try persist(
                    shared.withLock { shared in
                        shared.volume.peerGeneration = shared.volume.generation
                        return shared.volumeChanged(folder)
                    })
            }
            let plan = ResyncPlan(full: decision == .full, volume: mine)
            let begin = Frame.document(.resyncBegin, tag: link.makeTag(), plan.encoded())
            if case let .failure(error) = await link.request(begin) { return error }
        } catch let error as JournalError {
            return .journal(error)
        } catch let error as ReplicationError {
            return error
        } catch {
            return .state("\(error)")
        }
        // From here writes go to the peer too; wait out those that did not,
        // so the log's dirty set covers every write the peer lacks.
        if case .drainUnreplicated = shared.withLock({ $0.pairing.event(.resyncBegin(link)) }) {
            await drainUnreplicated()
        }
        let startSequence = journal.lastSequence
        do throws(ReplicationError) {
            let ranges: [Range<UInt64>]
            do { ranges = try journal.dirtyRanges() } catch { throw .journal(error) }
            try await resync(ranges, link: link, startSequence: startSequence)
        } catch {
            return error
        }
        return nil
    }

    /// Copies `ranges` to the peer in order, a chunk at a time with several
    /// in flight, each read under the range lock (so no client write to it
    /// interleaves). At each checkpoint (64 MiB by default), after a peer
    /// flush, the log forgets what is done: a resync stopped by a crash
    /// continues from there.
    private func resync(_ ranges: [Range<UInt64>], link: PeerLink, startSequence: UInt64) async throws(ReplicationError) {
        let total = ranges.reduce(UInt64(0)) { $0 + UInt64($1.count) }
        shared.withLock { shared in
            shared.resyncTotal = total
            shared.resyncDone = 0
        }
        logger.info("replication: resyncing \(total) bytes in \(ranges.count) range(s) to \(link.channel.peerName)")
        let chunk = UInt64(options.chunkLength)
        let pieces = ranges.flatMap { range in
            stride(from: range.lowerBound, to: range.upperBound, by: Int(chunk)).map { $0..<min($0 + chunk, range.upperBound) }
        }
        if let failure = await copyInWindow(pieces, link: link, startSequence: startSequence) { throw failure }
        try await checkpoint(below: volume.size, startSequence: startSequence, link: link)
        let finished = shared.withLock { shared in
            shared.volume.peerGeneration = shared.volume.generation
            return shared.volumeChanged(folder)
        }
        try persist(finished)
        if case let .failure(error) = await link.request(Frame.document(.resyncDone, tag: link.makeTag(), finished.state.encoded())) {
            throw error
        }
        let suspended = shared.withLock { shared -> [CheckedContinuation<Bool, Never>] in
            guard link.isAlive, case .resumeHeld = shared.pairing.event(.resyncDone(link)) else { return [] }
            shared.resyncTotal = 0
            shared.resyncDone = 0
            defer { shared.suspended = [] }
            return shared.suspended
        }
        for waiter in suspended { waiter.resume(returning: true) }
        logger.info("replication: resync of \(total) bytes done")
    }

    /// Copies `pieces` to the peer with a sliding window of `resyncDepth` in
    /// flight, checkpointing every `resyncCheckpoint` bytes and keeping to
    /// the resync rate; nil once all are copied, else why not.
    private func copyInWindow(_ pieces: [Range<UInt64>], link: PeerLink, startSequence: UInt64) async -> ReplicationError? {
        let started = ContinuousClock.now
        // A sliding window of `resyncDepth` pieces in flight; `contiguous`
        // counts the pieces done with none missing before them, which is
        // how far a checkpoint may clear.
        return await withTaskGroup(of: (Int, ReplicationError?).self) { group in
            var next = 0, contiguous = 0
            var done = [Bool](repeating: false, count: pieces.count)
            var sinceCheckpoint: UInt64 = 0, copied: UInt64 = 0
            while next < pieces.count && next < options.resyncDepth {
                let index = next
                group.addTask { (index, await self.copyToPeer(pieces[index], link: link)) }
                next += 1
            }
            for await (index, failure) in group {
                if let failure {
                    group.cancelAll()
                    return failure
                }
                done[index] = true
                while contiguous < pieces.count && done[contiguous] { contiguous += 1 }
                let bytes = UInt64(pieces[index].count)
                copied += bytes
                sinceCheckpoint += bytes
                shared.withLock { $0.resyncDone += bytes }
                if sinceCheckpoint >= options.resyncCheckpoint, contiguous > 0 {
                    sinceCheckpoint = 0
                    do throws(ReplicationError) {
                        try await checkpoint(below: pieces[contiguous - 1].upperBound, startSequence: startSequence, link: link)
                    } catch {
                        group.cancelAll()
                        return error
                    }
                }
                if let rate = options.resyncRate, rate > 0 {
                    let due = started + .seconds(Double(copied) / Double(rate))
                    if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
                }
                if next < pieces.count {
                    let index = next
                    group.addTask { (index, await self.copyToPeer(pieces[index], link: link)) }
                    next += 1
                }
            }
            return nil
        }
    }

    /// The peer flushes; then the log forgets what the resync has copied.
    private func checkpoint(below offset: UInt64, startSequence: UInt64, link: PeerLink) async throws(ReplicationError) {
        if case let .failure(error) = await flushPeer(link) { throw error }
        do {
            try await journal.clearDirty(below: offset, throughSequence: startSequence)
        } catch {
            throw .journal(error)
        }
    }

    /// Reads `range` locally under the range lock and sends it to the peer.
    func copyToPeer(_ range: Range<UInt64>, link: PeerLink) async -> ReplicationError? {
        let ticket = await rangeLock.lock(range)
        defer { rangeLock.release(ticket) }
        let payload = FramePayload(count: range.count)  // pooled: no fresh pages per chunk
        let buffer = UnsafeMutableRawBufferPointer(rebasing: payload.bytes[..<range.count])
        do {
            try await lower.read(into: buffer, at: range.lowerBound)
        } catch {
            return .device(error)
        }
        let data = UnsafeRawBufferPointer(buffer)
        let header = FrameHeader(
            .resyncData, tag: link.makeTag(), offset: range.lowerBound, length: UInt32(range.count),
            checksum: CRC32C.checksum(data), payloadLength: UInt32(range.count))
        let answer = await link.request(header, data: data)
        withExtendedLifetime(payload) {}
        if case let .failure(error) = answer { return error }
        return nil
    }

    /// Gives up on a peer whose oldest request has waited past the timeout
    /// (a partition with no reset, a stopped peer). The connector calls it
    /// periodically.
    public func checkPeerTimeout() {
        guard let link = shared.withLock({ $0.pairing.anyLink }), let waited = link.oldestWait(), waited > options.peerTimeout else {
            return
        }
        link.fail(.linkLost("the peer has not answered for \(waited); giving up on it"))
    }
}
