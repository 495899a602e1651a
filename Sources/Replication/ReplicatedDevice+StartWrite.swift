public import BlockDevices
import Journal
import Synchronization

/// A replicated write without a task, for the engine's
/// ``BlockDevice/startWrite(_:at:fua:whenDone:)``: the same steps as
/// ``ReplicatedDevice/replicateLocked(_:_:_:local:)``, taken when none of
/// them has to wait before the peer's answer (the range is free, its
/// regions are active already, a link is up). The peer's answer then ends
/// the write on the link's reader, with no task to make, suspend and resume:
/// its allocations, which the reader's thread made and the link's freed,
/// were most of what a replicated write cost beyond an unreplicated one
/// (bench/README, "A replicated write without a task"). Anything rarer (a
/// failure either side, a log to fold) finishes on a task, as `write` does.
extension ReplicatedDevice {
    /// The lower device's, and writes may start without a task.
    public var capabilities: DeviceCapabilities {
        var capabilities = lower.capabilities
        capabilities.startsWithoutTask = true
        return capabilities
    }

    /// Reads have nothing to replicate: the lower device's own start, if any.
    public func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        lower.startRead(into: buffer, at: offset, whenDone: whenDone)
    }

    public func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        let range = offset..<(offset + UInt64(data.count))
        // Without a link, the policy may hold the write: `write` decides.
        guard shared.withLock({ $0.pairing.link != nil }), let ticket = rangeLock.lockIfFree(range) else { return false }
        guard activity.beginWithoutSync(range) else {
            rangeLock.release(ticket)
            return false
        }
        let header = FrameHeader(
            .write, flags: fua ? .fua : [], offset: offset, length: UInt32(data.count), checksum: CRC32C.checksum(data),
            payloadLength: UInt32(data.count))
        let admitted = admit(ticket)
        // Peer first, then the local write, as `replicateLocked` does. (No
        // link: it went between the check and the admission, and the write
        // goes on as `write`'s would without one.)
        let write = StartedWrite(self, admitted, header, whenDone)
        if let link = admitted.link {
            write.lent(link.send(admitted.frame(header), data: data, answeringTo: write))
        }
        if !lower.startWrite(data, at: offset, fua: fua, whenDone: { [write] error in write.localDone(error) }) {
            // The caller's buffer, valid until the write is answered.
            nonisolated(unsafe) let data = data
            write.finishOnTask { () async throws(DeviceError) in
                do throws(DeviceError) {
                    try await self.lower.write(data, at: offset, fua: fua)
                    write.localDone(nil)
                } catch {
                    write.localDone(error)
                }
            }
        }
        return true
    }

    /// What `replicateLocked` and `replicate` do once both writes are in.
    func finish(
        _ admitted: AdmittedWrite, _ header: FrameHeader, written: Result<Void, DeviceError>,
        remote: Result<PeerLink.Answer, ReplicationError>?
    ) async throws(DeviceError) {
        let replicated: Bool
        do {
            defer { end(admitted) }
            replicated = try await conclude(admitted, header, written: written, remote: remote)
        }
        if replicated {
            shared.withLock { $0.writesReplicated += 1 }
        } else {
            try await degraded("write", diverges: true)
            shared.withLock { $0.writesDegraded += 1 }
        }
    }
}

/// One write started without a task: what it holds, and the two outcomes
/// it waits for, the local write's and the peer's, which arrive on
/// different threads in either order. It hears the peer's answer itself
/// and its callbacks capture only it, so a write allocates nothing else.
final class StartedWrite: AnswerReceiver {
    let device: ReplicatedDevice
    let admitted: ReplicatedDevice.AdmittedWrite
    let header: FrameHeader
    let whenDone: @Sendable (DeviceError?) -> Void
    private let state = Mutex<(local: Result<Void, DeviceError>?, remote: Outcome?, ticket: SendTicket)>((nil, nil, .copied))

    init(
        _ device: ReplicatedDevice, _ admitted: ReplicatedDevice.AdmittedWrite, _ header: FrameHeader,
        _ whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) {
        self.device = device
        self.admitted = admitted
        self.header = header
        self.whenDone = whenDone
    }

    /// The data was lent to the link's channel under `ticket` (before the
    /// local write is started, so before anything concludes).
    func lent(_ ticket: SendTicket) { state.withLock { $0.ticket = ticket } }

    func localDone(_ error: DeviceError?) {
        let both = state.withLock { state in
            state.local = error.map { .failure($0) } ?? .success(())
            return state.remote != nil || admitted.link == nil
        }
        if both { conclude() }
    }

    /// The peer's answer, or the link's failure.
    func resolve(_ outcome: Outcome) {
        let both = state.withLock { state in
            state.remote = outcome
            return state.local != nil
        }
        if both { conclude() }
    }

    /// Both writes are in (on whichever thread brought the second).
    private func conclude() {
        let (written, answered, ticket) = state.withLock { ($0.local!, $0.remote, $0.ticket) }
        if case .success = written, case .success = answered, admitted.sequence % device.foldInterval != 0 {
            // The common case: `conclude` and `finish` with nothing to wait for.
            device.logReplicated(admitted, header)
            device.end(admitted)
            device.shared.withLock { $0.writesReplicated += 1 }
            whenDone(nil)
            return
        }
        finishOnTask { [self] () async throws(DeviceError) in
            // After a failure the channel may still read the data: wait
            // until it has let go.
            if case .failure = answered, let link = admitted.link { await link.channel.released(ticket) }
            try await device.finish(admitted, header, written: written, remote: answered)
            whenDone(nil)
        }
    }

    /// Runs `body` on a task (on the options' executor, so the simulation
    /// stays on its one thread); a failure it throws answers the write.
    /// `body` answers a success itself, or hands on to another step.
    func finishOnTask(_ body: @escaping @Sendable () async throws(DeviceError) -> Void) {
        Task(executorPreference: device.options.executor) { [self] in
            do throws(DeviceError) {
                try await body()
            } catch {
                whenDone(error)
            }
        }
    }
}
