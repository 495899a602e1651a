import BlockDevices
import Synchronization

/// What happens to writes and flushes the peer did not take: the
/// ``DegradedPolicy``, and the new generation before the copies diverge.
extension ReplicatedDevice {
    /// A write or flush could not reach the peer: apply the policy. Returns
    /// when the operation may be acknowledged.
    func degraded(_ operation: String, diverges: Bool) async throws(DeviceError) {
        switch options.policy {
        case .continue:
            if diverges { try diverge() }
        case .fail:
            throw DeviceError(.io, "\(operation) refused: the replication peer is unreachable (policy fail)")
        case .suspend:
            let resumed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let ready = shared.withLock { shared -> Bool? in
                    switch shared.pairing.event(.hold) {
                    case let .proceed(going): return going
                    case .wait: shared.suspended.append(continuation)
                    case let action: preconditionFailure("pairing: hold answered \(action)")
                    }
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
            guard resumed else { throw DeviceError(.shutdown, "\(operation) held for the peer, and the service is stopping") }
        }
    }

    /// Before the first write the peer does not follow is acknowledged, this
    /// copy starts a new generation (durably), so that on reconnection the
    /// two sides can tell who is ahead and whether both changed. Every write
    /// without the peer waits until the new generation is on disk, not only
    /// the one that started it; a write that fails to save it is refused,
    /// and the next one tries again. Writes the peer has are not held up.
    func diverge() throws(DeviceError) {
        let (change, started) = shared.withLock { shared -> (VolumeChange?, Bool) in
            guard shared.volume.generation == shared.volume.peerGeneration, shared.volume.peerGeneration != 0 else {
                return (shared.unsavedVolume, false)
            }
            shared.volume.startGeneration(&shared.random)
            return (shared.volumeChanged(folder), true)
        }
        guard let change else { return }
        do {
            try persist(change)
        } catch {
            throw DeviceError(.io, "cannot record the new generation: \(error)")
        }
        if started { logger.warning("replication: writing without the peer; new generation \(String(change.state.generation, radix: 16))") }
    }
}
