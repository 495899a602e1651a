import BlockDevices
import DeviceLayers
import Journal
import Synchronization

/// One primary's connection to a ``ReplicaNode``: checks each frame, applies
/// it, answers it. Runs frames concurrently except where ranges overlap.
final class ReplicaSession: Sendable {
    private let node: ReplicaNode
    /// The node's device as the NBD engine sees an export's: FUA, zero and
    /// trim filled in by the one emulation layer, never re-emulated here.
    private let device: EmulatedDevice
    private let channel: any ReplicationChannel
    private let lost = LossSignal()
    /// nil until the greeting is accepted.
    private let admitted = Mutex<Bool>(false)

    init(node: ReplicaNode, channel: any ReplicationChannel) {
        self.node = node
        self.device = EmulatedDevice(node.device)
        self.channel = channel
    }

    func run() async -> ReplicationError {
        channel.start(onFrame: { [self] frame in receive(frame) }, onClose: { [self] error in lost.signal(error) })
        let reason = await lost.wait()
        if admitted.withLock({ $0 }) {
            node.release()
            node.logger.warning("replication: the primary \(channel.peerName) left: \(reason)")
        } else if case .malformed = reason {
            // Garbage before any greeting (a TLS peer, a port scanner): the
            // channel sent its refusal; say here too why it was hung up on.
            node.logger.error("replication: refusing \(channel.peerName): \(reason)")
        }
        return reason
    }

    /// Refuses the peer, saying why, and ends the connection.
    private func refuse(_ error: ReplicationError) {
        node.logger.error("replication: refusing \(channel.peerName): \(error)")
        try? channel.send(Frame.document(.refuse, Array(error.description.utf8)))
        channel.close(error)
    }

    private func answer(_ header: FrameHeader) {
        do { try channel.send(header, data: UnsafeRawBufferPointer(start: nil, count: 0)) } catch { channel.close(error) }
    }

    private func fail(_ tag: UInt64, _ message: String) {
        node.logger.error("replication: \(message)")
        do { try channel.send(Frame.document(.failed, tag: tag, Array(message.utf8))) } catch { channel.close(error) }
    }

    /// Runs a frame's work at once on the receiving thread, until it first
    /// waits (a file write completes there, and its acknowledgement is sent
    /// from there): handing every frame to the task pool cost a thread
    /// wake-up per frame, which dominated the replica's CPU (measured).
    private func spawn(_ body: @escaping @Sendable () async -> Void) {
        Task.immediate(executorPreference: node.executor) { await body() }
    }

    private func receive(_ frame: Frame) {
        let header = frame.header
        guard admitted.withLock({ $0 }) else {
            guard header.type == .hello else { return refuse(.malformed("expected hello, got \(header.type)")) }
            let greeting: Greeting
            do { greeting = try Greeting(decoding: frame.payload.array) } catch { return refuse(error) }
            switch node.admit(greeting, from: channel) {
            case let .failure(error): return refuse(error)
            case let .success(reply):
                admitted.withLock { $0 = true }
                node.logger.info("replication: primary \(greeting.node) at \(channel.peerName) connected")
                do { try channel.send(Frame.document(.helloReply, tag: header.tag, reply.encoded())) } catch { channel.close(error) }
            }
            return
        }
        if header.type.isRanged {
            guard header.offset <= node.device.size, UInt64(header.length) <= node.device.size - header.offset else {
                return refuse(.malformed("\(header.type) at \(header.offset)+\(header.length) is past the end (\(node.device.size))"))
            }
        }
        switch header.type {
        case .write, .resyncData:
            let checksum = CRC32C.checksum(frame.payload.readable)
            guard checksum == header.checksum else {
                return refuse(.malformed("\(header.type) at \(header.offset): data checksum \(checksum) does not match \(header.checksum)"))
            }
            apply(header, .write(frame.payload, fua: header.flags.contains(.fua)))
        case .trim:
            apply(header, .trim(fua: header.flags.contains(.fua)))
        case .zero:
            var options: ZeroOptions = header.flags.contains(.noHole) ? [] : .mayTrim
            if header.flags.contains(.fua) { options.insert(.fua) }
            apply(header, .zero(options))
        case .flush:
            spawn { [self] in
                let mark = node.activity.flushMark()
                do throws(DeviceError) {
                    try await node.device.flush()
                    try? await node.activity.cool(after: mark)
                    answer(FrameHeader(.ack, tag: header.tag))
                } catch {
                    fail(header.tag, "flush failed: \(error.message)")
                }
            }
        case .checksumRequest:
            let ticket = node.rangeLock.enqueue(header.offset..<(header.offset + UInt64(header.length)))
            spawn { [self] in
                await node.rangeLock.wait(ticket)
                defer { node.rangeLock.release(ticket) }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(header.length), alignment: 4096)
                defer { buffer.deallocate() }
                do throws(DeviceError) {
                    try await node.device.read(into: buffer, at: header.offset)
                    answer(
                        FrameHeader(
                            .checksumReply, tag: header.tag, offset: header.offset, length: header.length,
                            checksum: CRC32C.checksum(UnsafeRawBufferPointer(buffer))))
                } catch {
                    fail(header.tag, "read for verify failed: \(error.message)")
                }
            }
        case .resyncBegin:
            do {
                try node.beginResync(try ResyncPlan(decoding: frame.payload.array))
                answer(FrameHeader(.ack, tag: header.tag))
            } catch {
                refuse(error)
            }
        case .resyncDone:
            let primary: VolumeState
            do { primary = try VolumeState(decoding: frame.payload.array) } catch { return refuse(error) }
            spawn { [self] in
                do throws(ReplicationError) {
                    try await node.finishResync(primary)
                    answer(FrameHeader(.ack, tag: header.tag))
                } catch {
                    fail(header.tag, "cannot finish the resync: \(error)")
                }
            }
        case .hello:
            refuse(.malformed("a second hello"))
        case .helloReply, .ack, .checksumReply, .failed, .refuse:
            refuse(.malformed("a primary may not send \(header.type)"))
        }
    }

    /// What a ranged frame asks of the device.
    private enum RangedWork: Sendable {
        case write(FramePayload, fua: Bool)
        case trim(fua: Bool)
        case zero(ZeroOptions)
    }

    private func perform(_ work: RangedWork, _ header: FrameHeader) async throws(DeviceError) {
        switch work {
        case let .write(payload, fua): try await device.write(payload.readable, at: header.offset, fua: fua)
        case let .trim(fua): try await device.trim(at: header.offset, length: UInt64(header.length), fua: fua)
        case let .zero(options): try await device.zero(at: header.offset, length: UInt64(header.length), options: options)
        }
    }

    /// Applies a ranged frame after every earlier overlapping one, with its
    /// region marked active first, then acknowledges it. The work is a value
    /// and the task's closure the only one made: each closure that captures
    /// is an allocation per replicated write (there were three).
    private func apply(_ header: FrameHeader, _ work: RangedWork) {
        let range = header.offset..<(header.offset + UInt64(header.length))
        let ticket = node.rangeLock.enqueue(range)
        // As `spawn`, written out so that no closure wraps this one.
        Task.immediate(executorPreference: node.executor) { [self] in
            await node.rangeLock.wait(ticket)
            defer { node.rangeLock.release(ticket) }
            do {
                try await node.activity.begin(range)
            } catch {
                return fail(header.tag, "activity log: \(error)")
            }
            defer { node.activity.end(range) }
            do throws(DeviceError) {
                try await perform(work, header)
                node.noteApplied()
                answer(FrameHeader(.ack, tag: header.tag))
            } catch {
                fail(header.tag, "\(header.type) at \(header.offset)+\(header.length) failed: \(error.message)")
            }
        }
    }
}
