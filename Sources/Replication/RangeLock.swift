import Synchronization

/// Orders operations on overlapping byte ranges: each waits for every
/// earlier overlapping one to be released, in the order they were enqueued;
/// disjoint ranges never wait. The primary uses it so that overlapping writes
/// reach its disk and the peer's in the same order (else the two copies could
/// end with different winners), and so a resync or verify read of a range is
/// not interleaved with a write to it; the secondary uses it to apply frames
/// in arrival order where they overlap.
public final class RangeLock: Sendable {
    public struct Ticket: Sendable, Hashable {
        fileprivate let id: UInt64
        public let range: Range<UInt64>
        /// Nothing overlapping was ahead of it: ``wait(_:)`` returns at once,
        /// without a continuation (the common case of a write).
        fileprivate let grantedAtOnce: Bool
    }

    private struct Entry {
        let id: UInt64
        let range: Range<UInt64>
        var granted = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private struct State {
        var nextID: UInt64 = 0
        /// Enqueued and not released, in enqueue order.
        var entries: [Entry] = []
        /// How many entries are not granted yet: a release with none skips
        /// looking for one to grant.
        var blocked = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Takes a place in line now (synchronously, so the caller's order is
    /// the lock's order); ``wait(_:)`` then waits for the turn.
    public func enqueue(_ range: Range<UInt64>) -> Ticket {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            let blocked = state.entries.contains { $0.range.overlaps(range) }
            state.entries.append(Entry(id: id, range: range, granted: !blocked))
            if blocked { state.blocked += 1 }
            return Ticket(id: id, range: range, grantedAtOnce: !blocked)
        }
    }

    /// Takes the range only when nothing overlapping is in line: the write
    /// that starts without a task, which cannot wait for a turn. Nil, having
    /// taken no place, otherwise.
    public func lockIfFree(_ range: Range<UInt64>) -> Ticket? {
        state.withLock { state in
            guard !state.entries.contains(where: { $0.range.overlaps(range) }) else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.entries.append(Entry(id: id, range: range, granted: true))
            return Ticket(id: id, range: range, grantedAtOnce: true)
        }
    }

    public func wait(_ ticket: Ticket) async {
        if ticket.grantedAtOnce { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                guard let index = state.entries.firstIndex(where: { $0.id == ticket.id }) else { return true }
                if state.entries[index].granted { return true }
                state.entries[index].waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Tickets whose ``wait(_:)`` is suspended for their turn (tests await
    /// this instead of guessing with a sleep).
    public var waiterCount: Int { state.withLock { state in state.entries.count { $0.waiter != nil } } }

    /// Enqueues and waits.
    public func lock(_ range: Range<UInt64>) async -> Ticket {
        let ticket = enqueue(range)
        await wait(ticket)
        return ticket
    }

    public func release(_ ticket: Ticket) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if let index = state.entries.firstIndex(where: { $0.id == ticket.id }) { state.entries.remove(at: index) }
            var woken: [CheckedContinuation<Void, Never>] = []
            guard state.blocked > 0 else { return woken }
            for index in state.entries.indices where !state.entries[index].granted {
                let range = state.entries[index].range
                if !state.entries[..<index].contains(where: { $0.range.overlaps(range) }) {
                    state.entries[index].granted = true
                    state.blocked -= 1
                    if let waiter = state.entries[index].waiter { woken.append(waiter) }
                    state.entries[index].waiter = nil
                }
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Entries waiting or held, for tests and status.
    public var count: Int { state.withLock { $0.entries.count } }
}
