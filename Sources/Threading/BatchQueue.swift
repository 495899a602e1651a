/// A queue one thread drains in batches, sleeping while it is empty.
public final class BatchQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var closed = false
    }

    private let state = ConditionLock(State())

    public init() {}

    public func push(_ item: Element) {
        state.withLock { $0.items.append(item) }
        state.broadcast()
    }

    /// Queues without waking the thread unless `wakeAt` items are waiting:
    /// for work that may ride along with the next wake-up.
    public func pushQuietly(_ item: Element, wakeAt: Int) {
        let wake = state.withLock { state -> Bool in
            state.items.append(item)
            return state.items.count >= wakeAt
        }
        if wake { state.broadcast() }
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
