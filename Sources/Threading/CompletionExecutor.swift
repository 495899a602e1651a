import CSystemShims

/// The task executor of NBD requests: a request resumed by a thread that
/// completes work (a replication channel's reader, on the peer's answer)
/// continues right there instead of on the cooperative pool.
///
/// Why: resuming a task on the pool wakes a pool thread, and on these
/// virtual machines an idle CPU halts, so a wake-up costs tens of
/// microseconds, more than everything a request does after its answer
/// (log the record, send the reply). A completion thread that opts in with
/// ``resumingHere(_:)`` runs that rest itself.
///
/// Only the outermost resumption runs inline: while a job runs here, the
/// flag is off, so a task it resumes in turn goes to the pool (no unbounded
/// nesting on one stack, no job run inside another's critical section).
/// Everything resumed from any other thread goes to the pool as usual.
public final class CompletionExecutor: TaskExecutor {
    public static let shared = CompletionExecutor()

    private init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        guard buse_resumes_inline() != 0 else {
            globalConcurrentExecutor.enqueue(job)
            return
        }
        buse_set_resumes_inline(0)
        job.runSynchronously(on: asUnownedTaskExecutor())
        buse_set_resumes_inline(1)
    }

    /// Runs `body`, in which this thread resumes waiting tasks (it must not
    /// hold a lock they could need): tasks preferring this executor run
    /// their next part here before `body` goes on.
    public static func resumingHere<T>(_ body: () throws -> T) rethrows -> T {
        let outer = buse_resumes_inline()
        buse_set_resumes_inline(1)
        defer { buse_set_resumes_inline(outer) }
        return try body()
    }
}
