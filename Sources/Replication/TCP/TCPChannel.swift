import Glibc
public import Sockets
import Synchronization
public import Threading

/// A replication channel over a connected TCP (or Unix) socket. A thread
/// reads frames and hands them on in order. Sends are combined: a sender
/// queues its frame and, if no one is writing, writes everything queued in
/// one vectored `sendmsg`; otherwise the writer of the moment takes it along. Small
/// frames (acknowledgements, 4 KiB writes) are copied into the queue, so
/// their sender returns at once; a large payload is written from the
/// caller's buffer, which waits until it has gone.
public final class TCPChannel: ReplicationChannel, SubmissionPlug.Holder {
    private let socket: Socket
    public let peerName: String
    private let outbox = ConditionLock(Outbox())
    private let closeReason = Mutex<ReplicationError?>(nil)

    /// Payloads up to this size are copied into the queue.
    static let copyLimit = 64 << 10
    /// At most this many frames per `sendmsg` (at most two vectors each; IOV_MAX is 1024).
    static let batchLimit = 256
    /// At most this many small frames wait for the end of the reader's burst.
    static let holdLimit = 16

    private struct Queued: @unchecked Sendable {
        // Safety: `borrowed` stays valid until its sender sees `written`
        // reach `id`: the sender waits for that.
        let id: UInt64
        /// The header, followed by the payload when it was small enough to copy.
        let owned: OwnedBytes
        let borrowed: UnsafeRawBufferPointer?
    }

    /// Bytes with an address that stays valid for as long as the object
    /// lives, so the vectors of a `sendmsg` can point into them (a pointer
    /// taken inside `Array.withUnsafeBytes` is not valid after the closure).
    private final class OwnedBytes: @unchecked Sendable {
        // Safety: written once in init, then only read.
        let bytes: UnsafeMutableRawBufferPointer

        init(_ header: FrameHeader, copying payload: UnsafeRawBufferPointer) {
            bytes = .allocate(byteCount: FrameHeader.size + payload.count, alignment: 16)
            header.encode(into: bytes)
            if payload.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: bytes[FrameHeader.size...]).copyMemory(from: payload)
            }
        }

        deinit { bytes.deallocate() }
    }

    private struct Outbox {
        var queue: [Queued] = []
        var nextID: UInt64 = 1
        var written: UInt64 = 0
        var writing = false
        var failure: ReplicationError?
        var descriptorOpen = true
    }

    public init(socket: Socket, peerName: String) {
        self.socket = socket
        self.peerName = peerName
    }

    public func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError) {
        let copy = data.count <= Self.copyLimit
        // A plugged thread (mid-burst, see SubmissionPlug) holds its small
        // frames, up to `holdLimit`: they leave in one write when its burst
        // ends. A large frame is never held: its sender waits for it to go.
        let plug = copy ? SubmissionPlug.current : nil
        let queued = outbox.withLock { outbox -> Result<(id: UInt64, mustWrite: Bool, held: Bool), ReplicationError> in
            if let failure = outbox.failure { return .failure(.linkLost("connection to \(peerName) is closed: \(failure)")) }
            let id = outbox.nextID
            outbox.nextID += 1
            outbox.queue.append(
                Queued(
                    id: id, owned: OwnedBytes(header, copying: copy ? data : UnsafeRawBufferPointer(start: nil, count: 0)),
                    borrowed: copy ? nil : data))
            if plug != nil, outbox.queue.count < Self.holdLimit { return .success((id, false, true)) }
            let mustWrite = !outbox.writing
            if mustWrite { outbox.writing = true }
            return .success((id, mustWrite, false))
        }
        let (id, mustWrite, held) = try queued.get()
        if held {
            plug?.onFinish(self)
            return
        }
        if mustWrite { try drain() }
        guard !copy else { return }
        let unsent = outbox.wait(until: { $0.written >= id || $0.failure != nil }) { outbox in
            outbox.written < id ? outbox.failure : nil
        }
        if let unsent { throw unsent }
    }

    /// Writes what is queued, batch after batch, until the queue is empty.
    private func drain() throws(ReplicationError) {
        while true {
            let batch = outbox.withLock { outbox -> [Queued] in
                guard !outbox.queue.isEmpty, outbox.failure == nil else {
                    outbox.writing = false
                    return []
                }
                let batch = Array(outbox.queue.prefix(Self.batchLimit))
                outbox.queue.removeFirst(batch.count)
                return batch
            }
            guard let last = batch.last else {
                outbox.broadcast()
                return
            }
            do {
                try Self.writeAll(socket.descriptor, batch, peerName)
            } catch {
                outbox.withLock { outbox in
                    if outbox.failure == nil { outbox.failure = error }
                    outbox.queue = []
                    outbox.writing = false
                }
                outbox.broadcast()
                throw error
            }
            outbox.withLock { $0.written = last.id }
            outbox.broadcast()
        }
    }

    private static func writeAll(_ descriptor: Int32, _ batch: [Queued], _ peer: String) throws(ReplicationError) {
        var parts: [UnsafeRawBufferPointer] = []
        parts.reserveCapacity(batch.count * 2)
        // The owned bytes stay alive (in `batch`) for as long as the pointers are used.
        for item in batch {
            parts.append(UnsafeRawBufferPointer(item.owned.bytes))
            if let borrowed = item.borrowed { parts.append(borrowed) }
        }
        try withExtendedLifetime(batch) { () throws(ReplicationError) in
            var remaining = parts[...]
            while !remaining.isEmpty {
                var vectors = remaining.prefix(1024).map {
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count)
                }
                // sendmsg, not writev: only a send can say MSG_NOSIGNAL, and a
                // peer that has closed its end must cost the link (EPIPE),
                // not the process (SIGPIPE).
                let written = vectors.withUnsafeMutableBufferPointer { vectors in
                    var message = msghdr()
                    message.msg_iov = vectors.baseAddress
                    message.msg_iovlen = vectors.count
                    return sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL))
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw .linkLost("send to \(peer): \(String(cString: strerror(errno)))")
                }
                var count = written
                while count > 0, let first = remaining.first {
                    if count >= first.count {
                        count -= first.count
                        remaining.removeFirst()
                    } else {
                        remaining[remaining.startIndex] = UnsafeRawBufferPointer(rebasing: first[count...])
                        count = 0
                    }
                }
            }
        }
    }

    public func start(onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void) {
        SystemThread.start { [self] in
            let reason = readLoop(onFrame)
            close(reason)
            // Only this thread closes the descriptor, once no writer is using it.
            outbox.wait(until: { !$0.writing }) { outbox in
                outbox.descriptorOpen = false
                socket.close()
            }
            onClose(closeReason.withLock { $0 } ?? reason)
        }
    }

    private func readLoop(_ onFrame: (Frame) -> Void) -> ReplicationError {
        var stream = ReadAheadBuffer()
        // While more frames are already read, the answers this thread sends
        // (a replica's acknowledgements) wait to leave together.
        let plug = SubmissionPlug()
        while true {
            do throws(ReplicationError) {
                if stream.buffered < FrameHeader.size { plug.finish() }
                let bytes: UnsafeRawPointer
                do throws(SocketError) {
                    // Polls briefly before it blocks (Socket.readSome): waking a
                    // blocked thread costs more than the round trip.
                    bytes = try stream.next(FrameHeader.size, from: socket)
                } catch {
                    throw Self.lost(error, peerName)
                }
                let header = try FrameHeader(decoding: UnsafeRawBufferPointer(start: bytes, count: FrameHeader.size))
                let payload = header.payloadLength == 0 ? FramePayload.empty : FramePayload(count: Int(header.payloadLength))
                if header.payloadLength > 0 {
                    do throws(SocketError) {
                        try stream.fill(UnsafeMutableRawBufferPointer(rebasing: payload.bytes[..<Int(header.payloadLength)]), from: socket)
                    } catch {
                        throw Self.lost(error, peerName)
                    }
                }
                if stream.buffered >= FrameHeader.size { plug.start() }
                onFrame(Frame(header, payload: payload))
            } catch {
                plug.finish()
                if case .malformed = error {
                    // Say why before hanging up, so the other side's log shows it.
                    try? send(Frame.document(.refuse, Array(error.description.utf8)))
                }
                return error
            }
        }
    }

    /// Writes what a plugged thread held, unless a writer is at work (it
    /// takes the held frames along). A failed write closes the channel, and
    /// with it every request waiting for an answer.
    public func plugFinished() {
        let mustWrite = outbox.withLock { outbox -> Bool in
            guard !outbox.queue.isEmpty, !outbox.writing, outbox.failure == nil else { return false }
            outbox.writing = true
            return true
        }
        do throws(ReplicationError) {
            if mustWrite { try drain() }
        } catch {
            close(error)
        }
    }

    private static func lost(_ error: SocketError, _ peer: String) -> ReplicationError {
        switch error {
        case .closed: .linkLost("\(peer) closed the connection")
        case .truncated: .linkLost("\(peer) closed the connection in the middle of a frame")
        case let .system(call, code): .linkLost("\(call) from \(peer): \(String(cString: strerror(code)))")
        }
    }

    public func close(_ reason: ReplicationError) {
        closeReason.withLock { if $0 == nil { $0 = reason } }
        outbox.withLock { outbox in
            guard outbox.failure == nil else { return }
            outbox.failure = reason
            // Under the lock that the reader thread closes the descriptor
            // under: once closed, its number may belong to another socket.
            if outbox.descriptorOpen { socket.shutdown() }
        }
        outbox.broadcast()
    }
}
