/// A queue one thread drains in batches, sleeping while it is empty.
public final class BatchQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var closed = false
    }

    private let state = ConditionLock(State())

    public init() {}

    /// Queues `item` and wakes the thread. False, queuing nothing, once the
    /// queue is closed: its thread may be gone, and whoever waits for the
    /// item to be handled would wait forever; the caller answers it instead.
    @discardableResult
    public func push(_ item: Element) -> Bool {
        let queued = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.items.append(item)
            return true
        }
        if queued { state.broadcast() }
        return queued
    }

    /// Queues without waking the thread unless `wakeAt` items are waiting:
    /// for work that may ride along with the next wake-up. False, as
    /// ``push(_:)``, once closed.
    @discardableResult
    public func pushQuietly(_ item: Element, wakeAt: Int) -> Bool {
        let (queued, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            state.items.append(item)
            return (true, state.items.count >= wakeAt)
        }
        if wake { state.broadcast() }
        return queued
    }

    /// Everything queued, waiting until there is something; nil once closed and empty.
    public func takeAll() -> [Element]? {
        state.wait(until: { !$0.items.isEmpty || $0.closed }) { state in
            guard !state.items.isEmpty else { return nil }
            defer { state.items.removeAll(keepingCapacity: true) }
            return state.items
        }
    }

    public func close() {
        state.withLock { $0.closed = true }
        state.broadcast()
    }
}
