import SnapshotterStorage
import Threading

/// The one system thread that runs every storage call: they block on the
/// disk and on fsync, and must never occupy Swift's cooperative pool (one
/// thread per core). One thread also keeps LMDB's write transactions on a
/// single thread and in arrival order.
final class StorageThread: Sendable {
    private let queue = BatchQueue<@Sendable () -> Void>()

    init() {
        let queue = queue
        SystemThread.start {
            while let jobs = queue.takeAll() {
                for job in jobs { job() }
            }
        }
    }

    /// Stops the thread once queued calls have run.
    func close() { queue.close() }

    /// Runs `body` on the thread and returns its result.
    func run<R: Sendable>(_ body: @escaping @Sendable () throws(SnapshotStoreError) -> R) async throws(SnapshotStoreError) -> R {
        let result: Result<R, SnapshotStoreError> = await withCheckedContinuation { continuation in
            let queued = queue.push {
                continuation.resume(returning: Result { () throws(SnapshotStoreError) -> R in try body() })
            }
            // After close the thread is gone: nothing would run the call.
            if !queued { continuation.resume(returning: .failure(.io("the storage thread has stopped (shutting down)"))) }
        }
        return try result.get()
    }
}
