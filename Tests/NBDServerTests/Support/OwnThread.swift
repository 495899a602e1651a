import Foundation

/// Runs blocking socket code on a thread of its own and awaits its result.
///
/// Test clients block in `recv`; on Swift's cooperative pool (two threads on
/// this machine) they would starve the server's own request tasks, which run
/// on that same pool, and the test would deadlock against itself.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

/// Runs `body(index)` on `count` threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<count {
            group.addTask { try await onOwnThread { try body(index) } }
        }
        try await group.waitForAll()
    }
}
