import Glibc
import Sockets
import Threading

/// The one writer of a connection's replies: the reply path's rules, in one
/// place. Replies never interleave, and may leave in any order relative to
/// their requests.
///
/// ## Three ways out
/// 1. **At once**, from the task that finished the request: if nothing is
///    queued and the writer thread is idle, one non-blocking `send` (the
///    common case: no thread hand-off). What does not fit is queued.
/// 2. **Held**, on a plugged thread (``SubmissionPlug``: the connection's
///    reader mid-burst, or a replication link's reader between the peer's
///    acknowledgements, each of which finishes a write): small replies wait
///    and leave gathered in one `send` when the plug finishes, just before
///    that thread would block (or sooner, in groups of
///    ``holdCountMaximum``). On loopback every `send` also runs the
///    receiver's TCP stack and may wake it, so a burst of 16 acknowledgements
///    costs a few passes instead of 16. What does not fit is queued as one
///    frame. Replies made on an unplugged thread (a RADOS completion) are
///    never held, and a held reply leaves before its thread blocks, so it
///    cannot stall the connection.
/// 3. **Queued**, for the channel's writer thread, which sends with blocking
///    writes, coalescing small replies into one system call. A client that
///    stops reading therefore stalls only its own writer thread, never the
///    cooperative pool.
///
/// ## Why bytes never interleave
/// Ways 1 and 2 send only under the state lock, and only while the queue is
/// empty and the writer is not busy; the writer takes the whole queue under
/// that lock and marks itself busy until its writes are done. So at any
/// moment one party owns the socket's send side, and a reply's bytes are
/// never split by another's.
///
/// ## In-flight accounting (with ``Transmission``)
/// - The reader counts a request in (`Connection.Gate.requests`, and its
///   payload bytes) before dispatching it, and waits while the limits are
///   reached (`Transmission.admit`).
/// - Every admitted request produces exactly one reply with
///   `completesRequest` set, carrying its payload bytes in `heldBytes`
///   (`Transmission+Execute`); a refused request's reply holds none.
/// - ``finish(_:)`` counts each reply out once, whether it was sent or
///   dropped after a socket failure (a queued remainder of a gathered batch
///   has `completesRequest` cleared: its replies were counted out already).
/// - The only other way out is `Transmission.release`, for a WRITE whose
///   payload could not be read.
/// Preconditions trap a count that goes negative (once, a miscount hung
/// shutdown, which waits for the count to reach zero). After ``close()``
/// the writer thread ends.
final class ReplyChannel: Sendable, SubmissionPlug.Holder {
    private struct State {
        var queue: [OutgoingReply] = []
        var writerBusy = false
        var failed = false
        var closed = false
        /// Small replies made on plugged threads, waiting for a plug to finish.
        var held: [OutgoingReply] = []
        var heldLength = 0
    }

    /// Where held replies are gathered; touched only with the lock held.
    // Safety: allocated once, used only under `state`'s lock, freed in deinit.
    private nonisolated(unsafe) let batch = UnsafeMutableRawBufferPointer.allocate(byteCount: coalesceLength, alignment: 16)
    /// Replies longer than this are never held: copying them would cost more than it saves.
    static let holdLengthMaximum = 16 * 1024
    /// At most this many replies wait together, so the client can start on
    /// the first ones while the rest of a burst is served (2 cores: the
    /// client and the reader must overlap, not take turns).
    static let holdCountMaximum = 4

    private let socket: Socket
    private let pool: BufferPool
    /// Called with the number of replies that left (or were dropped) and the
    /// payload bytes they held, so the connection can admit more requests.
    private let completed: @Sendable (_ replies: Int, _ bytes: Int) -> Void
    private let onFailure: @Sendable (SocketError) -> Void
    private let state = ConditionLock(State())

    /// Small replies are coalesced into one write up to this many bytes.
    static let coalesceLength = 64 * 1024

    init(
        socket: Socket, pool: BufferPool, completed: @escaping @Sendable (_ replies: Int, _ bytes: Int) -> Void,
        onFailure: @escaping @Sendable (SocketError) -> Void
    ) {
        self.socket = socket
        self.pool = pool
        self.completed = completed
        self.onFailure = onFailure
        SystemThread.start { [self] in writerLoop() }
    }

    deinit { batch.deallocate() }

    /// A plug this channel holds replies for has finished: they leave now.
    func plugFinished() { sendHeld() }

    /// Sends every held reply in one write.
    private func sendHeld() {
        let (done, failure): ([OutgoingReply], SocketError?) = state.withLock { state in
            guard !state.held.isEmpty else { return ([], nil) }
            let replies = state.held
            state.held.removeAll(keepingCapacity: true)
            var length = 0
            for reply in replies {
                reply.withUnsentBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: batch[length...]).copyMemory(from: bytes)
                    length += bytes.count
                }
            }
            state.heldLength = 0
            if state.failed { return (replies, nil) }
            var sent = 0
            if state.queue.isEmpty && !state.writerBusy {
                let result = Glibc.send(socket.descriptor, batch.baseAddress, length, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if result < 0 && errno != EAGAIN && errno != EINTR {
                    state.failed = true
                    return (replies, .system("send", errno))
                }
                sent = max(result, 0)
            }
            if sent < length {
                // The rest leaves through the writer thread, as one frame; its
                // replies are counted complete below, so the frame is not.
                var rest = OutgoingReply.frame(Array(UnsafeRawBufferPointer(rebasing: batch[sent..<length])))
                rest.completesRequest = false
                state.queue.append(rest)
                self.state.broadcast()
            }
            return (replies, nil)
        }
        finish(done)
        if let failure { fail(failure) }
    }

    private enum Holding {
        /// Not on a plugged thread, or too large: send as usual.
        case notHeld
        /// Held; the group is not full yet.
        case held
        /// Held, and it completes a group that should leave now.
        case heldGroupFull
        /// Too large to hold, but replies are held: they must leave first.
        case mustFollowHeld
    }

    /// Holds `reply` if this thread is plugged and it fits, deciding
    /// everything `send` needs under one acquisition of the lock.
    private func tryHold(_ reply: OutgoingReply, _ plug: SubmissionPlug?) -> Holding {
        guard plug != nil else { return .notHeld }
        return state.withLock { state in
            guard reply.length <= Self.holdLengthMaximum, state.heldLength + reply.length <= Self.coalesceLength else {
                return state.held.isEmpty ? .notHeld : .mustFollowHeld
            }
            state.held.append(reply)
            state.heldLength += reply.length
            return state.held.count >= Self.holdCountMaximum ? .heldGroupFull : .held
        }
    }

    func send(_ reply: OutgoingReply) {
        let plug = SubmissionPlug.current
        switch tryHold(reply, plug) {
        case .held:
            plug?.onFinish(self)
            return
        case .heldGroupFull:
            sendHeld()
            return
        case .mustFollowHeld:
            sendHeld()
        case .notHeld:
            break
        }
        var reply = reply
        let outcome: SendOutcome = state.withLock { state in
            if state.failed { return .dropped }
            if state.queue.isEmpty && !state.writerBusy {
                let outcome = trySendNow(&reply)
                if outcome == .partial {
                    state.queue.append(reply)
                    self.state.broadcast()
                }
                if case .failed = outcome { state.failed = true }
                return outcome
            }
            state.queue.append(reply)
            self.state.broadcast()
            return .partial
        }
        switch outcome {
        case .sent, .dropped:
            finish([reply])
        case .partial:
            break
        case let .failed(error):
            finish([reply])
            fail(error)
        }
    }

    /// Stops the writer thread once the queue is empty.
    func close() {
        state.withLock { $0.closed = true }
        state.broadcast()
    }

    private enum SendOutcome: Equatable {
        case sent, partial, dropped
        case failed(SocketError)
    }

    /// One non-blocking attempt; updates `reply.sent` on a partial send.
    private func trySendNow(_ reply: inout OutgoingReply) -> SendOutcome {
        let result = reply.withUnsentBytes { bytes in
            Glibc.send(socket.descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
        if result >= 0 {
            reply.sent += result
            return reply.sent == reply.length ? .sent : .partial
        }
        switch errno {
        case EAGAIN, EINTR: return .partial
        default: return .failed(.system("send", errno))
        }
    }

    /// Releases the replies' buffers and reports them complete.
    private func finish(_ replies: [OutgoingReply]) {
        guard !replies.isEmpty else { return }
        var bytes = 0
        var requests = 0
        for reply in replies {
            if let buffer = reply.buffer { pool.release(buffer) }
            bytes += reply.heldBytes
            if reply.completesRequest { requests += 1 }
        }
        completed(requests, bytes)
    }

    private func fail(_ error: SocketError) {
        let dropped: [OutgoingReply] = state.withLock { state in
            state.failed = true
            defer { state.queue.removeAll() }
            return state.queue
        }
        finish(dropped)
        onFailure(error)
    }

    private func writerLoop() {
        let coalesce = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.coalesceLength, alignment: 16)
        defer { coalesce.deallocate() }
        while true {
            let batch: [OutgoingReply]? = state.wait(until: { !$0.queue.isEmpty || $0.closed }) { state in
                if state.queue.isEmpty { return nil }
                state.writerBusy = true
                defer { state.queue.removeAll(keepingCapacity: true) }
                return state.queue
            }
            guard let batch else { return }
            do {
                try write(batch, coalescing: coalesce)
            } catch {
                finish(batch)
                state.withLock { $0.writerBusy = false }
                fail(error)
                continue
            }
            finish(batch)
            state.withLock { $0.writerBusy = false }
        }
    }

    /// Blocking writes of a batch; consecutive small replies share one write.
    private func write(_ batch: [OutgoingReply], coalescing scratch: UnsafeMutableRawBufferPointer) throws(SocketError) {
        var filled = 0
        for reply in batch {
            let result: Result<Void, SocketError> = reply.withUnsentBytes { bytes in
                Result { () throws(SocketError) in
                    if bytes.count <= scratch.count - filled {
                        UnsafeMutableRawBufferPointer(rebasing: scratch[filled...]).copyMemory(from: bytes)
                        filled += bytes.count
                        return
                    }
                    if filled > 0 {
                        try socket.writeAll(UnsafeRawBufferPointer(rebasing: scratch[..<filled]))
                        filled = 0
                    }
                    try socket.writeAll(bytes)
                }
            }
            try result.get()
        }
        if filled > 0 { try socket.writeAll(UnsafeRawBufferPointer(rebasing: scratch[..<filled])) }
    }
}
