import Threading

/// A fixed set of system threads for the registry's blocking calls.
///
/// Every storage call blocks on file I/O and most end in `fsync`, which can
/// take milliseconds on a buse volume. Such calls never run on Swift's
/// cooperative pool (one thread per core, two here: two fsyncs would stall
/// every request) nor on NIO's event loops (they would stall every
/// connection). Handlers `await run { ... }` instead: the job runs here and
/// the task resumes with its result.
///
/// The thread count bounds how many storage calls run at once; more wait
/// in the queue in arrival order. Sixteen lets fsyncs of concurrent uploads
/// overlap on the device while keeping the thread stacks small (512 KiB each).
public final class BlockingPool: Sendable {
    /// The pool the registry uses unless told otherwise; its threads live as
    /// long as the process, like NIO's singleton pools.
    public static let shared = BlockingPool(threadCount: 16)

    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        /// Index of the next job to run; the jobs before it have started.
        var next = 0
    }

    private let queue = ConditionLock(Queue())

    public init(threadCount: Int) {
        precondition(threadCount > 0, "a blocking pool needs at least one thread")
        for _ in 0..<threadCount {
            SystemThread.start { [queue] in
                while true {
                    let job = queue.wait(until: { $0.next < $0.jobs.count }) { queue in
                        let job = queue.jobs[queue.next]
                        queue.next += 1
                        // Compact now and then, so a pool that is never idle
                        // does not keep every job it ever ran.
                        if queue.next == queue.jobs.count || queue.next >= 1024 {
                            queue.jobs.removeFirst(queue.next)
                            queue.next = 0
                        }
                        return job
                    }
                    job()
                }
            }
        }
    }

    /// Runs `body` on one of the pool's threads and returns what it returns.
    ///
    /// A task cancelled while it waits still gets its result: a syscall in
    /// progress cannot be interrupted, and storage leaves nothing half done.
    public func run<Value: Sendable, Failure: Error>(
        _ body: @escaping @Sendable () throws(Failure) -> Value
    ) async throws(Failure) -> Value {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, Failure>, Never>) in
            queue.withLock { $0.jobs.append({ continuation.resume(returning: Result(catching: body)) }) }
            queue.broadcast()
        }
        return try result.get()
    }
}
