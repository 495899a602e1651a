import Glibc

/// The one writer of a connection's replies. Replies never interleave, and may
/// leave in any order relative to their requests.
///
/// Lifecycle: a task that finishes a request calls ``send(_:)``. If nothing
/// is queued, the reply goes out at once with a non-blocking `send` from that
/// task (the common case: no thread hand-off). If the socket is full, or
/// replies are already queued, it is queued for the channel's writer thread,
/// which sends with blocking writes, coalescing small replies into one
/// system call. A client that stops reading therefore stalls only its own
/// writer thread, never the cooperative pool. After ``close()`` the writer
/// thread ends; replies sent after a socket failure are dropped and their
/// buffers released.
final class ReplyChannel: Sendable {
    private struct State {
        var queue: [OutgoingReply] = []
        var writerBusy = false
        var failed = false
        var closed = false
    }

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

    func send(_ reply: OutgoingReply) {
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
        for reply in replies {
            if let buffer = reply.buffer { pool.release(buffer) }
            bytes += reply.heldBytes
        }
        completed(replies.count, bytes)
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
