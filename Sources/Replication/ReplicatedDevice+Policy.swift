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
    /// two sides can tell who is ahead and whether both changed.
    func diverge() throws(DeviceError) {
        do {
            try shared.withLock { shared throws(ReplicationError) in
                guard shared.volume.generation == shared.volume.peerGeneration, shared.volume.peerGeneration != 0 else { return }
                var volume = shared.volume
                volume.startGeneration(&shared.random)
                try folder.save(volume)
                shared.volume = volume
                logger.warning("replication: writing without the peer; new generation \(String(volume.generation, radix: 16))")
            }
        } catch {
            throw DeviceError(.io, "cannot record the new generation: \(error)")
        }
    }
}
