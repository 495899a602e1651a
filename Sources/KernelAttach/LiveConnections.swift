import Glibc
import Synchronization

/// Counts an attachment's live connections; a waiter wakes when the last ends.
// Safety: the semaphore lives on the heap at a fixed address and sem_* calls
// synchronise themselves; the count is behind a Mutex.
final class LiveConnections: @unchecked Sendable {
    private let count = Mutex(0)
    private let ended = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(ended, 0, 0) }

    deinit {
        sem_destroy(ended)
        ended.deallocate()
    }

    func add(_ value: Int) { count.withLock { $0 += value } }

    func remove(_ value: Int) {
        let none = count.withLock { count in
            count -= value
            return count == 0
        }
        if none { sem_post(ended) }
    }

    /// Blocks until the count has dropped to zero.
    func waitForZero() {
        guard count.withLock({ $0 > 0 }) else { return }
        while sem_wait(ended) != 0 && errno == EINTR {}
        sem_post(ended)  // let any other waiter through too
    }
}
