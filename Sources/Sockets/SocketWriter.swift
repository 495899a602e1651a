import Glibc
public import Threading

/// The one writer of a stream socket's send side, shared by the NBD server's
/// replies and the replication link's frames. A sender never blocks on the
/// socket; a peer that stops reading stalls only this writer's thread.
///
/// ## Three ways out
/// 1. **At once**, from the sender's thread: if the writer thread is idle,
///    the sender sends everything queued (its message, and any held ones)
///    with one non-blocking vectored `sendmsg`. This is the common case:
///    no thread hand-off. What does not fit stays queued for way 3.
/// 2. **Held**, on a plugged thread (``SubmissionPlug``: a connection's
///    reader mid-burst, a replication link's reader between frames): small
///    messages wait in the queue and leave together, in one `sendmsg`, when
///    the plug finishes, just before that thread would block, or sooner once
///    ``holdCountMaximum`` are waiting. On loopback every send also runs the
///    receiver's TCP stack and may wake it, so a burst costs a few passes
///    instead of one per message. A writer made with `holdsFirstOfBurst`
///    false sends the burst's first message at once (way 1) and holds the
///    rest (``SubmissionPlug/servesFirstOfBurst``). A held message leaves
///    before its thread blocks (or earlier, with another sender's), so it
///    cannot stall the link; a large one is never held.
/// 3. **Queued**, for the writer's own thread (a ``SystemThread``), which
///    takes over once a non-blocking send came up short and writes with
///    blocking vectored `sendmsg`s, at most ``batchCountMaximum`` messages
///    each, until the queue is empty. Messages queued meanwhile ride along.
/// 4. **Finished by its sender**, only for a large message on a socket with
///    a ``RecordLayer`` (TLS), sent by a thread that may block on this
///    socket (`send(_:finishingHere:)`: a connection's reader and its own
///    replies). Where way 1 comes up short, the sender keeps the send side
///    and writes with blocking sends until its own message is out, then
///    gives what others queued meanwhile to the writer thread. Why: the
///    cipher reads the whole payload, and the sender has just written it
///    (a device's copy into the reply buffer); handed to the writer thread,
///    it is encrypted on the other core, from another core's cache. Measured
///    with 1 MiB TLS reads at depth 16 (A/B of release builds, 5 runs,
///    medians): 733 against 597 µs of server CPU per read, IOPS +14%.
///    Never for a thread that serves others (a replication link's reader,
///    librados' callbacks): one slow client would stall them all.
///
/// Every `sendmsg` says `MSG_NOSIGNAL`: a peer that has gone costs the
/// connection (EPIPE), never the process (SIGPIPE).
///
/// A socket with a ``RecordLayer`` (TLS) sends through it instead, in the
/// same three ways: way 1 and 2 send without blocking and leave what the
/// layer did not take to the writer thread, which resumes exactly where the
/// layer stopped (TLS must finish a record it began before the next one).
///
/// ## Why bytes never interleave
/// Ways 1 and 2 send only under the state lock and only while no one owns
/// the send side (`owner`); the sender that leaves a remainder marks it
/// owned under that lock, by the writer thread (way 3) or by itself (way 4),
/// and it stays owned until the queue is empty or, for way 4, passes to the
/// writer thread. So one party at a time owns the send side, messages leave
/// in queue order, and a partly sent message is always the first one left
/// in the queue.
///
/// ## Release
/// Each queued message gets a ``Ticket``. Messages are released (written,
/// or dropped after a failure) strictly in queue order, so one number, the
/// last released ticket, says which are. Released means the writer will not
/// read the message again: its pooled buffer is back in the pool, its copy
/// freed, its borrowed body the sender's again (``released(_:)``). After a
/// failure, a message the writer thread is writing is released only once
/// that write has returned, never sooner.
public final class SocketWriter: Sendable, SubmissionPlug.Holder {
    /// Names one queued message, to wait for its release.
    public struct Ticket: Sendable, Hashable {
        public let id: UInt64

        public init(id: UInt64) { self.id = id }
    }

    private struct State {
        var queue: [Outgoing] = []
        /// The ticket of the next message queued.
        var nextID: UInt64 = 1
        /// Every message with a ticket up to this one has been released.
        var releasedThrough: UInt64 = 0
        /// Who owns the send side; while anyone does, ways 1 and 2 only queue.
        var owner: Owner?
        var failed = false
        /// The writer thread ends once it is idle.
        var closed = false
        var descriptorOpen = true
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    /// Who writes the queue with blocking sends.
    private enum Owner {
        /// Way 3 (it waits for this).
        case writerThread
        /// Way 4: a sender finishing its own message.
        case sender
    }

    /// What a step did, reported once the lock is released.
    private struct Outcome {
        var completedRequests = 0
        var heldBytes = 0
        var resumable: [CheckedContinuation<Void, Never>] = []
        var failure: SocketError?
        var hold = false
    }

    /// A message longer than this is never held: it should start at once,
    /// and one `sendmsg` saved is nothing beside its copy into the kernel.
    public static let holdLengthMaximum = 64 * 1024
    /// At most this many messages per `sendmsg`: two vectors each, and
    /// IOV_MAX is 1024.
    public static let batchCountMaximum = 512

    /// At most this many messages wait on a plugged thread before they leave
    /// (the owner says why its value suits what it sends).
    public let holdCountMaximum: Int
    /// Whether the first request of a burst holds its message too
    /// (``SubmissionPlug/servesFirstOfBurst`` says who wants which).
    public let holdsFirstOfBurst: Bool
    private let socket: Socket
    private let pool: BufferPool?
    private let completed: @Sendable (_ requests: Int, _ bytes: Int) -> Void
    private let onFailure: @Sendable (SocketError) -> Void
    private let state = ConditionLock(State())
    /// Vectors and head slots for ways 1, 2 and 4: used under the lock, or
    /// outside it by the sender that owns the send side (way 4), while no
    /// other party may use them (ways 1 and 2 wait for `owner`).
    // Safety: allocated once, used only under `state`'s lock or by way 4's owner (above), freed in deinit.
    private nonisolated(unsafe) let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: 2 * batchCountMaximum)
    private nonisolated(unsafe) let heads = UnsafeMutableRawPointer.allocate(
        byteCount: Outgoing.headCapacity * batchCountMaximum, alignment: 16)

    /// Starts the writer thread. `pool` takes back pooled messages' buffers;
    /// `completed` hears the requests and bytes of released messages (never
    /// under the lock); `onFailure` hears the first failed send, after which
    /// everything queued is dropped and every later message refused.
    public init(
        socket: Socket, holdCountMaximum: Int, holdsFirstOfBurst: Bool = true, pool: BufferPool? = nil,
        completed: @escaping @Sendable (_ requests: Int, _ bytes: Int) -> Void = { _, _ in },
        onFailure: @escaping @Sendable (SocketError) -> Void
    ) {
        precondition(holdCountMaximum >= 1 && holdCountMaximum <= Self.batchCountMaximum)
        self.socket = socket
        self.holdCountMaximum = holdCountMaximum
        self.holdsFirstOfBurst = holdsFirstOfBurst
        self.pool = pool
        self.completed = completed
        self.onFailure = onFailure
        SystemThread.start(named: "socket-writer") { [self] in writerLoop() }
    }

    deinit {
        vectors.deallocate()
        heads.deallocate()
    }

    /// Queues `message` and sends at once if it can, without blocking.
    /// Returns its ticket, or nil when it was dropped (the writer had
    /// failed, or failed sending it) and is already released.
    ///
    /// `finishingHere`: the calling thread may block on this socket (it
    /// serves this peer alone). A large message through a record layer
    /// whose non-blocking send comes up short is then written to its end
    /// here, with blocking sends (way 4), rather than by the writer thread.
    @discardableResult
    public func send(_ message: Outgoing, finishingHere: Bool = false) -> Ticket? {
        var plug = message.length <= Self.holdLengthMaximum ? SubmissionPlug.current : nil
        if let current = plug, current.servesFirstOfBurst, !holdsFirstOfBurst { plug = nil }
        let finishes = finishingHere && message.length > Self.holdLengthMaximum && socket.records != nil
        var outcome = Outcome()
        var owned = false
        let ticket: Ticket? = state.withLock { state in
            if state.failed {
                release(message, &outcome)
                return nil
            }
            let ticket = Ticket(id: state.nextID)
            state.nextID += 1
            state.queue.append(message)
            // The writer thread takes it along.
            if state.owner != nil { return ticket }
            if plug != nil && state.queue.count < holdCountMaximum {
                outcome.hold = true
                return ticket
            }
            sendQueued(&state, &outcome, handingOff: !finishes)
            owned = state.owner == .sender
            return state.failed ? nil : ticket
        }
        if outcome.hold { plug?.onFinish(self) }
        report(outcome)
        if owned, let ticket { finishHere(through: ticket.id) }
        return ticket
    }

    /// A plug this writer holds messages for has finished: they leave now,
    /// unless the writer thread already has them.
    public func plugFinished() {
        var outcome = Outcome()
        state.withLock { state in
            guard !state.failed, state.owner == nil, !state.queue.isEmpty else { return }
            sendQueued(&state, &outcome)
        }
        report(outcome)
    }

    /// Returns once the message with `ticket` is released: written, or
    /// dropped after a failure, and in either case no longer read by the
    /// writer. A sender that lent its memory (``Outgoing/appendBorrowing(_:)``)
    /// waits for this before it reuses it; the wait is a continuation, never
    /// a blocked thread.
    public func released(_ ticket: Ticket) async {
        if state.withLock({ $0.releasedThrough >= ticket.id }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.releasedThrough >= ticket.id { return true }
                state.waiters.append((ticket.id, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// No more messages: the writer thread ends once the queue is written.
    public func close() {
        state.withLock { $0.closed = true }
        state.broadcast()
    }

    /// Fails the writer from outside: later messages are refused, queued
    /// ones dropped (what the writer thread is writing, once that write
    /// returns), and a write blocked on the socket is woken by shutting the
    /// socket down. `onFailure` is not called. Idempotent.
    public func shutDown() {
        var outcome = Outcome()
        state.withLock { state in
            if !state.failed {
                state.failed = true
                if state.owner == nil { dropQueued(&state, &outcome) }
            }
            if state.descriptorOpen { socket.shutdown() }
        }
        report(outcome)
    }

    /// Shuts the writer down, waits until its thread no longer uses the
    /// socket, then closes the descriptor (only here: once closed, its number
    /// may belong to another socket) and ends the thread. It may block
    /// briefly: for system threads only.
    public func closeDescriptor() {
        shutDown()
        var outcome = Outcome()
        state.wait(until: { $0.owner == nil }) { state in
            dropQueued(&state, &outcome)
            state.closed = true
            if state.descriptorOpen {
                state.descriptorOpen = false
                socket.close()
            }
        }
        state.broadcast()
        report(outcome)
    }

    // MARK: Under the lock

    /// Way 1 and 2: one non-blocking `sendmsg` of the queue's first messages;
    /// a remainder goes to the writer thread, or without `handingOff` stays
    /// with the caller, who owns the send side now (way 4).
    private func sendQueued(_ state: inout State, _ outcome: inout Outcome, handingOff: Bool = true) {
        let count = min(state.queue.count, Self.batchCountMaximum)
        let vectorCount = state.queue.withUnsafeBufferPointer { queue in
            Self.gather(queue[..<count], vectors, heads)
        }
        var written: Int
        if let records = socket.records {
            do throws(SocketError) {
                written = try records.send(vectors, count: vectorCount, blocking: false)
            } catch {
                fail(error, &state, &outcome)
                return
            }
        } else {
            written = Self.sendmsg(socket.descriptor, vectors, vectorCount, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if written < 0 {
                guard errno == EAGAIN || errno == EINTR else {
                    fail(.system("sendmsg", errno), &state, &outcome)
                    return
                }
                written = 0
            }
        }
        let done = state.queue.withUnsafeMutableBufferPointer { Self.advance($0, by: written) }
        for message in state.queue[..<done] { release(message, &outcome) }
        state.queue.removeFirst(done)
        state.releasedThrough += UInt64(done)
        takeResumable(&state, &outcome)
        if !state.queue.isEmpty {
            state.owner = handingOff ? .writerThread : .sender
            if handingOff { self.state.broadcast() }
        }
    }

    private func fail(_ error: SocketError, _ state: inout State, _ outcome: inout Outcome) {
        guard !state.failed else { return }
        state.failed = true
        outcome.failure = error
        if state.owner == nil { dropQueued(&state, &outcome) }
    }

    /// Releases every queued message unsent (after a failure).
    private func dropQueued(_ state: inout State, _ outcome: inout Outcome) {
        for message in state.queue { release(message, &outcome) }
        state.releasedThrough += UInt64(state.queue.count)
        state.queue.removeAll(keepingCapacity: true)
        takeResumable(&state, &outcome)
    }

    private func release(_ message: Outgoing, _ outcome: inout Outcome) {
        message.release(to: pool)
        outcome.completedRequests += message.completedRequests
        outcome.heldBytes += message.heldBytes
    }

    private func takeResumable(_ state: inout State, _ outcome: inout Outcome) {
        guard !state.waiters.isEmpty else { return }
        let through = state.releasedThrough
        for waiter in state.waiters where waiter.id <= through { outcome.resumable.append(waiter.continuation) }
        state.waiters.removeAll { $0.id <= through }
    }

    /// Tells the owner and the waiters, outside the lock.
    private func report(_ outcome: Outcome) {
        if outcome.completedRequests != 0 || outcome.heldBytes != 0 { completed(outcome.completedRequests, outcome.heldBytes) }
        for continuation in outcome.resumable { continuation.resume() }
        if let failure = outcome.failure { onFailure(failure) }
    }

    // MARK: The writer thread (way 3)

    private func writerLoop() {
        let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: 2 * Self.batchCountMaximum)
        let heads = UnsafeMutableRawPointer.allocate(byteCount: Outgoing.headCapacity * Self.batchCountMaximum, alignment: 16)
        defer {
            vectors.deallocate()
            heads.deallocate()
        }
        var batch: [Outgoing] = []
        batch.reserveCapacity(Self.batchCountMaximum)
        while true {
            // Closed, it ends once no one owns the send side: a sender
            // finishing its message (way 4) may still hand it a remainder.
            let working = state.wait(until: { $0.owner == .writerThread || ($0.closed && $0.owner == nil) }) { state -> Bool in
                guard state.owner == .writerThread else { return false }
                take(&batch, &state)
                return true
            }
            guard working else { return }
            writeAndRelease(&batch, vectors, heads) { state in
                guard state.queue.isEmpty else { return }
                state.owner = nil
                // For closeDescriptor, which waits for this.
                self.state.broadcast()
            }
        }
    }

    // MARK: A sender finishing its message (way 4)

    /// Writes the queue with blocking sends, on the calling thread, until
    /// the message with ticket `id` is released; then gives the send side
    /// to the writer thread if others queued meanwhile, or frees it. The
    /// caller owns the send side, so it may use the shared vectors.
    private func finishHere(through id: UInt64) {
        var batch: [Outgoing] = []
        while true {
            let more = state.withLock { state -> Bool in
                guard state.releasedThrough < id, !state.queue.isEmpty else {
                    state.owner = state.queue.isEmpty ? nil : .writerThread
                    self.state.broadcast()
                    return false
                }
                take(&batch, &state)
                return true
            }
            guard more else { return }
            writeAndRelease(&batch, vectors, heads) { _ in }
        }
    }

    // MARK: The owner of the send side (ways 3 and 4)

    /// Moves the queue's first messages, at most ``batchCountMaximum``, into `batch`.
    private func take(_ batch: inout [Outgoing], _ state: inout State) {
        let count = min(state.queue.count, Self.batchCountMaximum)
        batch.append(contentsOf: state.queue[..<count])
        state.queue.removeFirst(count)
    }

    /// Writes `batch` with blocking sends, then, under the lock, releases it
    /// (after a failure, the rest of the queue too) and lets `settle` decide
    /// who owns the send side next.
    private func writeAndRelease(
        _ batch: inout [Outgoing], _ vectors: UnsafeMutablePointer<iovec>, _ heads: UnsafeMutableRawPointer,
        settle: (inout State) -> Void
    ) {
        let error = writeAll(&batch, vectors, heads)
        var outcome = Outcome()
        state.withLock { state in
            for message in batch { release(message, &outcome) }
            state.releasedThrough += UInt64(batch.count)
            if let error { fail(error, &state, &outcome) }
            if state.failed { dropQueued(&state, &outcome) }
            takeResumable(&state, &outcome)
            settle(&state)
        }
        batch.removeAll(keepingCapacity: true)
        report(outcome)
    }

    /// Blocking `sendmsg`s until every byte of `batch` is written.
    private func writeAll(
        _ batch: inout [Outgoing], _ vectors: UnsafeMutablePointer<iovec>, _ heads: UnsafeMutableRawPointer
    ) -> SocketError? {
        batch.withUnsafeMutableBufferPointer { batch -> SocketError? in
            var first = 0
            while first < batch.count {
                let count = Self.gather(UnsafeBufferPointer(rebasing: batch[first...]), vectors, heads)
                if let records = socket.records {
                    do throws(SocketError) {
                        let written = try records.send(vectors, count: count, blocking: true)
                        first += Self.advance(UnsafeMutableBufferPointer(rebasing: batch[first...]), by: written)
                    } catch {
                        return error
                    }
                    continue
                }
                let written = Self.sendmsg(socket.descriptor, vectors, count, Int32(MSG_NOSIGNAL))
                if written < 0 {
                    if errno == EINTR { continue }
                    return .system("sendmsg", errno)
                }
                first += Self.advance(UnsafeMutableBufferPointer(rebasing: batch[first...]), by: written)
            }
            return nil
        }
    }

    // MARK: Vectors

    /// Vectors for the unsent bytes of `messages`; returns how many.
    private static func gather(
        _ messages: some Collection<Outgoing>, _ vectors: UnsafeMutablePointer<iovec>, _ heads: UnsafeMutableRawPointer
    ) -> Int {
        var count = 0
        var slot = heads
        for message in messages {
            count += message.vectors(vectors + count, headSlot: slot)
            slot += Outgoing.headCapacity
        }
        return count
    }

    /// Marks `written` bytes sent from the front; returns how many messages
    /// are now wholly sent (a partly sent one records how far it got).
    private static func advance(_ messages: UnsafeMutableBufferPointer<Outgoing>, by written: Int) -> Int {
        var remaining = written
        var done = 0
        while done < messages.count {
            let unsent = messages[done].length - messages[done].sent
            if remaining < unsent {
                messages[done].sent += remaining
                break
            }
            remaining -= unsent
            done += 1
        }
        return done
    }

    /// `sendmsg`, not `writev`: only a send can say MSG_NOSIGNAL.
    private static func sendmsg(_ descriptor: Int32, _ vectors: UnsafeMutablePointer<iovec>, _ count: Int, _ flags: Int32) -> Int {
        var message = msghdr()
        message.msg_iov = vectors
        message.msg_iovlen = count
        return Glibc.sendmsg(descriptor, &message, flags)
    }
}
