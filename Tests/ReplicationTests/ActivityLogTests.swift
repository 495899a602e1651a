import Foundation
import Journal
import Replication
import Testing

@Suite("Activity log")
final class ActivityLogTests {
    private var paths: [String] = []

    deinit {
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The log of a 64 MiB volume, in 1 MiB regions.
    func freshJournal() throws -> Journal {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("buse-activity-\(UUID().uuidString)").path
        paths.append(path)
        return try Journal(path: path, volumeSize: 64 << 20)
    }

    @Test func aRegionCoolsAtTheFirstFlushAfterItsLastWriteEnded() async throws {
        let journal = try freshJournal()
        let log = try ActivityLog(journal: journal)
        try await log.begin(0..<4096)
        #expect(log.activeCount == 1)
        try await log.cool(after: log.flushMark())
        #expect(log.activeCount == 1, "a write still in flight keeps its region active")
        log.end(0..<4096)
        try await log.cool(after: log.flushMark())
        #expect(log.activeCount == 0)
        try await journal.close()
    }

    /// A write whose region could not be recorded fails before it runs; it
    /// must not stay counted in flight, which would keep its region active
    /// (and resynced after every crash) for as long as the process lives.
    @Test(.timeLimit(.minutes(1)))
    func aWriteWhoseRegionCouldNotBeRecordedStillLetsItCool() async throws {
        let journal = try freshJournal()
        let log = try ActivityLog(journal: journal)
        try await journal.close()
        await #expect(throws: JournalError.closed) { try await log.begin(8 << 20..<(8 << 20) + 4096) }
        // Persisting the cooled bitmap fails too (the log is closed); the
        // region cools in memory, which is what the next sync would store.
        await #expect(throws: JournalError.closed) { try await log.cool(after: log.flushMark()) }
        #expect(log.activeCount == 0)
    }
}
