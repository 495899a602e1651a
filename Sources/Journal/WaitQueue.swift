import SystemThreads

/// A queue one thread drains in batches, sleeping while it is empty.
final class WaitQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var closed = false
    }

    private let state = ConditionLock(State())

    func push(_ item: Element) {
        state.withLock { $0.items.append(item) }
        state.broadcast()
    }

    /// Everything queued, waiting until there is something; nil once closed and empty.
    func takeAll() -> [Element]? {
        state.wait(until: { !$0.items.isEmpty || $0.closed }) { state in
            guard !state.items.isEmpty else { return nil }
            defer { state.items.removeAll(keepingCapacity: true) }
            return state.items
        }
    }

    func close() {
        state.withLock { $0.closed = true }
        state.broadcast()
    }
}
