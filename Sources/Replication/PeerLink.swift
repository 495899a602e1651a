import Synchronization
import Threading

/// The primary's end of one connection: sends requests and matches the
/// peer's answers to them by tag, so many requests are in flight at once and
/// answers may come in any order. When the channel ends, every request still
/// waiting gets the failure, and the link is dead for good (a reconnection
/// makes a new one).
final class PeerLink: Sendable {
    enum Answer: Sendable {
        case done
        case checksum(UInt32)
        case document([UInt8])
    }

    private struct State {
        /// Requests sent and not answered, by tag, with when they were sent
        /// (one table: one hash insert and one removal per request).
        var waiting: [UInt64: (receiver: any AnswerReceiver, sentAt: ContinuousClock.Instant)] = [:]
        var failure: ReplicationError?
    }

    let channel: any ReplicationChannel
    private let state = Mutex(State())
    /// Request tags: bit 63 set, so they never equal a write's sequence number.
    private let nextTag = Atomic<UInt64>(1 << 63)
    private let onLost: @Sendable (ReplicationError) -> Void

    init(_ channel: any ReplicationChannel, onLost: @escaping @Sendable (ReplicationError) -> Void) {
        self.channel = channel
        self.onLost = onLost
    }

    func start() {
        channel.start(
            onFrame: { [self] frame in receive(frame) }, onClose: { [self] error in fail(error) },
            mayPoll: { [self] in state.withLock { $0.waiting.count } <= Self.answersAwaitedWhilePolling })
    }

    /// The link's reader polls for the next answer only while at most this
    /// many requests await one: a write at iodepth 1, whose answer comes
    /// within a round trip. With more, the peer is busy with a queue of
    /// frames on the other core, and polling would yield this CPU back and
    /// forth between threads that all have work (bench/README, "Replication").
    static let answersAwaitedWhilePolling = 1

    func makeTag() -> UInt64 { nextTag.wrappingAdd(1, ordering: .relaxed).newValue }

    var failure: ReplicationError? { state.withLock { $0.failure } }
    var isAlive: Bool { failure == nil }

    /// Sends `header` (whose tag identifies the answer) and waits for the answer.
    func request(
        _ header: FrameHeader, data: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) async -> Result<Answer, ReplicationError> {
        await begin(header, data: data).answer()
    }

    /// Sends `header` now, on the caller's thread, and returns the answer to
    /// wait for later: the write path sends to the peer, writes locally,
    /// then waits, with no task in between. `data` is borrowed, not copied:
    /// it must stay valid until ``PendingAnswer/answer()`` has returned,
    /// which is once the peer answered (it had every byte) or, if the link
    /// failed, once the channel no longer reads it.
    func begin(_ header: FrameHeader, data: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) -> PendingAnswer {
        let pending = PendingAnswer(channel)
        pending.lent(send(header, data: data, answeringTo: pending))
        return pending
    }

    /// Sends `header` now, on the caller's thread, and hands the answer to
    /// `receiver` on the thread that brings it (at once if the link has
    /// failed already). `data` is borrowed on the terms of
    /// ``begin(_:data:)``: after a failure the channel may still read it
    /// until ``ReplicationChannel/released(_:)`` for the returned ticket.
    func send(_ header: FrameHeader, data: UnsafeRawBufferPointer, answeringTo receiver: any AnswerReceiver) -> SendTicket {
        let failure = state.withLock { state -> ReplicationError? in
            if let failure = state.failure { return failure }
            state.waiting[header.tag] = (receiver, .now)
            return nil
        }
        if let failure {
            receiver.resolve(.failure(failure))
            return .copied
        }
        do throws(ReplicationError) {
            return try channel.send(header, borrowing: data)
        } catch {
            fail(error)
            return .copied
        }
    }

    func request(_ frame: Frame) async -> Result<Answer, ReplicationError> {
        await request(frame.header, data: frame.payload.readable)
    }

    /// How long the oldest unanswered request has waited (for the peer timeout).
    func oldestWait(now: ContinuousClock.Instant = .now) -> Duration? {
        state.withLock { state in state.waiting.values.lazy.map(\.sentAt).min().map { now - $0 } }
    }

    /// Ends the link: the channel closes and every waiting request fails.
    func fail(_ error: ReplicationError) {
        let (waiting, first) = state.withLock { state -> ([any AnswerReceiver], Bool) in
            let first = state.failure == nil
            if first { state.failure = error }
            // In tag order, so a simulation run resumes them the same way every time.
            let waiting = state.waiting.sorted { $0.key < $1.key }.map(\.value.receiver)
            state.waiting = [:]
            return (waiting, first)
        }
        guard first else { return }
        channel.close(error)
        for receiver in waiting { receiver.resolve(.failure(error)) }
        onLost(error)
    }

    private func receive(_ frame: Frame) {
        let answer: Result<Answer, ReplicationError>
        switch frame.header.type {
        case .ack: answer = .success(.done)
        case .checksumReply: answer = .success(.checksum(frame.header.checksum))
        case .helloReply: answer = .success(.document(frame.payload.array))
        case .failed: answer = .failure(.linkLost("the peer failed a request: \(frame.text)"))
        case .refuse: return fail(.refused(frame.text))
        default: return fail(.malformed("a peer may not send \(frame.header.type)"))
        }
        let receiver = state.withLock { state in state.waiting.removeValue(forKey: frame.header.tag)?.receiver }
        guard let receiver else {
            return fail(.malformed("answer for tag \(frame.header.tag), which nothing awaits"))
        }
        // The write waiting for this answer finishes on this thread (see
        // CompletionExecutor): no pool thread to wake per write.
        CompletionExecutor.resumingHere { receiver.resolve(answer) }
        // A peer that cannot do what it was sent has a failing disk: stop
        // replicating to it (the primary goes on as the policy says), as
        // DRBD detaches a failing disk.
        if case let .failure(error) = answer { fail(error) }
    }
}

/// Who hears the answer to a request: ``PendingAnswer`` for a task that
/// awaits it, or a write started without a task (``StartedWrite``), which
/// then needs no second object per write.
protocol AnswerReceiver: AnyObject, Sendable {
    typealias Outcome = Result<PeerLink.Answer, ReplicationError>

    /// The answer, or the link's failure; called once, on the thread that brings it.
    func resolve(_ outcome: Outcome)
}

/// The answer to one request, which arrives on the channel's thread and may
/// come before or after someone waits for it.
final class PendingAnswer: AnswerReceiver {
    /// Unchecked: `state` resumes it exactly once (the waiter is taken out
    /// under the lock by whoever resumes it), and a checked continuation
    /// allocated a canary object for every replicated write.
    private typealias Waiter = UnsafeContinuation<Result<PeerLink.Answer, ReplicationError>, Never>
    private let state = Mutex<(result: Result<PeerLink.Answer, ReplicationError>?, waiter: Waiter?, ticket: SendTicket)>(
        (nil, nil, .copied))
    private let channel: any ReplicationChannel

    init(_ channel: any ReplicationChannel) { self.channel = channel }

    /// The request's data was lent to the channel under `ticket`.
    func lent(_ ticket: SendTicket) { state.withLock { $0.ticket = ticket } }

    func resolve(_ result: Result<PeerLink.Answer, ReplicationError>) {
        let waiter = state.withLock { state -> Waiter? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: result)
    }

    /// The answer; once it returns, the request's data is the caller's again.
    func answer() async -> Result<PeerLink.Answer, ReplicationError> {
        let result = await arrived()
        // An answer from the peer means it had every byte of the request;
        // a link failure may come while the channel's writer still reads
        // them, so wait for the channel to let go of them first.
        if case .failure = result { await channel.released(state.withLock { $0.ticket }) }
        return result
    }

    private func arrived() async -> Result<PeerLink.Answer, ReplicationError> {
        if let result = state.withLock({ $0.result }) { return result }
        return await withUnsafeContinuation { continuation in
            let result = state.withLock { state -> Result<PeerLink.Answer, ReplicationError>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let result { continuation.resume(returning: result) }
        }
    }
}
