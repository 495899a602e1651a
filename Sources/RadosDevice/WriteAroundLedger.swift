import Synchronization

/// The books of write-around: writes acknowledged to the client as soon as
/// they are sent to RADOS, before RADOS holds them (librbd's default cache
/// policy, `writearound`, does the same).
///
/// NBD allows it: a write without FUA promises nothing until a FLUSH, and
/// RADOS applies one client's operations on an object in the order they
/// were sent, so a later read, write or trim of the same bytes sees the
/// early-acknowledged write. What the ledger keeps:
/// - a budget: at most `limit` bytes may be acknowledged early and still be
///   in flight; past it, writes wait for RADOS as usual;
/// - the order writes began in, so that a flush waits for exactly the
///   writes acknowledged before it, not for later ones (under steady load
///   "wait until nothing is in flight" might never end);
/// - the first failure. A write that failed after its acknowledgement has
///   lost data the client thinks it wrote; every later flush reports it
///   (EIO), so the client learns of the loss at its next durability point,
///   as it would from a disk's write cache.
final class WriteAroundLedger: Sendable {
    /// Bytes that may be acknowledged early and still be in flight.
    let limit: Int

    private struct State {
        var bytesInFlight = 0
        /// Sequence of the oldest write not yet known complete; writes below
        /// it have all completed.
        var base: UInt64 = 0
        /// Completion flags of writes `base...`, in the order they began.
        var completed: [Bool] = []
        var head = 0
        var waiters: [(through: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var failure: String?

        var next: UInt64 { base + UInt64(completed.count - head) }
    }

    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// Books a write of `bytes` to be acknowledged early; nil when the budget
    /// is spent (the write must then wait for RADOS).
    func begin(bytes: Int) -> UInt64? {
        state.withLock { state in
            guard state.bytesInFlight + bytes <= limit else { return nil }
            state.bytesInFlight += bytes
            let sequence = state.next
            state.completed.append(false)
            return sequence
        }
    }

    /// RADOS answered write `sequence`; `failure` describes it when it failed.
    func end(_ sequence: UInt64, bytes: Int, failure: String?) {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.bytesInFlight -= bytes
            if let failure, state.failure == nil { state.failure = failure }
            state.completed[state.head + Int(sequence - state.base)] = true
            while state.head < state.completed.count && state.completed[state.head] {
                state.head += 1
                state.base += 1
            }
            if state.head > 4096 && state.head * 2 > state.completed.count {
                state.completed.removeFirst(state.head)
                state.head = 0
            }
            let base = state.base
            let ready = state.waiters.filter { $0.through < base }.map(\.continuation)
            state.waiters.removeAll { $0.through < base }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Returns once every write booked before this call has completed.
    /// `whenWaiting` runs (with the bytes still in flight) only if the call
    /// has to wait, once it is registered: a flush logs there, and tests
    /// observe that a flush is really waiting instead of guessing with a sleep.
    func waitForEarlierWrites(whenWaiting: (Int) -> Void = { _ in }) async {
        await withCheckedContinuation { continuation in
            let waiting = state.withLock { state -> Int? in
                guard state.next > state.base else { return nil }
                state.waiters.append((state.next - 1, continuation))
                return state.bytesInFlight
            }
            if let waiting { whenWaiting(waiting) } else { continuation.resume() }
        }
    }

    /// Flushes (and closes) waiting for earlier writes.
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// The first write that failed after its early acknowledgement, if any.
    var failure: String? { state.withLock { $0.failure } }

    /// Bytes acknowledged early and not yet answered by RADOS.
    var bytesInFlight: Int { state.withLock { $0.bytesInFlight } }
}
