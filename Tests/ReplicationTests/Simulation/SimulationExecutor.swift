import TestSupport

/// Runs every task of a simulation on the test's thread, one job at a time,
/// picking the next job with the seeded generator: the interleaving of
/// concurrent writes, acknowledgements and resync pieces is random but the
/// same for the same seed.
final class SimulationExecutor: TaskExecutor, @unchecked Sendable {
    // Safety: only the simulation's driver thread enqueues and runs jobs
    // (nothing in a simulation resumes a continuation from another thread).
    private var jobs: [UnownedJob] = []

    func enqueue(_ job: consuming ExecutorJob) {
        jobs.append(UnownedJob(job))
    }

    var pending: Int { jobs.count }

    /// Runs one job, chosen at random; false when there is none.
    @discardableResult
    func runOne(_ random: inout SeededGenerator) -> Bool {
        guard !jobs.isEmpty else { return false }
        let job = jobs.remove(at: Int.random(in: 0..<jobs.count, using: &random))
        job.runSynchronously(on: asUnownedTaskExecutor())
        return true
    }
}
