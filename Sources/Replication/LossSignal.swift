import Synchronization

/// Signals once that a link ended, with the reason.
final class LossSignal: Sendable {
    private let state = Mutex<(reason: ReplicationError?, waiters: [CheckedContinuation<ReplicationError, Never>])>((nil, []))

    func signal(_ reason: ReplicationError) {
        let waiters = state.withLock { state -> [CheckedContinuation<ReplicationError, Never>] in
            guard state.reason == nil else { return [] }
            state.reason = reason
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: reason) }
    }

    func wait() async -> ReplicationError {
        await withCheckedContinuation { continuation in
            let reason = state.withLock { state -> ReplicationError? in
                if let reason = state.reason { return reason }
                state.waiters.append(continuation)
                return nil
            }
            if let reason { continuation.resume(returning: reason) }
        }
    }
}
