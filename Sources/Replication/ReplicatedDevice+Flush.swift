public import BlockDevices
import Journal
import Synchronization

/// FLUSH means durable on both copies; closing flushes, drops the link and
/// records a clean shutdown.
extension ReplicatedDevice {
    public func flush() async throws(DeviceError) {
        let mark = activity.flushMark()
        let (watermark, link, inSync) = shared.withLock { ($0.watermark, $0.pairing.link, $0.pairing.isInSync) }
        // Both flushes run at once: the peer's is sent first, then the local
        // one runs on this task.
        let peerFlush = link.map { beginPeerFlush($0) }
        let local = await attempt { () async throws(DeviceError) in try await lower.flush() }
        let remote: Result<PeerLink.Answer, ReplicationError>? = if let peerFlush { await answer(toFlush: peerFlush) } else { nil }
        try local.get()
        switch remote {
        case .success:
            // Both copies hold every write completed before this flush: their
            // records and activity marks can go (only once in sync: during a
            // resync the log still describes what the resync must copy). The
            // flush does not wait for the trim: with a flush after every
            // write, waiting for the log's thread was a quarter of a
            // replicated flush's latency (bench/README).
            if inSync {
                journal.acknowledgeDetached(through: watermark, failed: trimFailed)
                do { try await activity.cool(after: mark) } catch { trimFailed(error, watermark) }
            }
        case .failure, .none:
            try await degraded("flush", diverges: false)
        }
    }

    public func close() async throws(DeviceError) {
        let (waiters, drains, action) = shared.withLock { shared in
            let action = shared.pairing.event(.close)
            defer { shared.suspended = []; shared.drainWaiters = [] }
            return (shared.suspended, shared.drainWaiters, action)
        }
        guard case let .shutDown(link) = action else { preconditionFailure("pairing: close answered \(action)") }
        for waiter in waiters { waiter.resume(returning: false) }
        for waiter in drains { waiter.resume() }
        var failure: DeviceError?
        do { try await flush() } catch { failure = error }
        link?.fail(.linkLost("the primary is shutting down"))
        do {
            try await journal.close()
            try persist(
                shared.withLock { shared in
                    shared.volume.cleanShutdown = true
                    return shared.volumeChanged(folder)
                })
        } catch {
            logger.error("replication: unclean close: \(error)")
        }
        do { try await lower.close() } catch { failure = failure ?? error }
        folder.unlock()
        if let failure { throw failure }
    }
}
