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

    /// The log of a 64 MiB volume, in 1 MiB regions, keeping at most
    /// `activeLimit` of them active once flushed.
    func freshJournal(activeLimit: Int = 0) throws -> Journal {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("buse-activity-\(UUID().uuidString)").path
        paths.append(path)
        var limits = Journal.Limits()
        limits.activeRegionLimit = activeLimit
        return try Journal(path: path, volumeSize: 64 << 20, limits: limits)
    }

    /// Writes 4 KiB at the start of each region in `regions`, one after another.
    func write(_ regions: [UInt64], to log: ActivityLog) async throws {
        for region in regions {
            let range = region << 20..<(region << 20) + 4096
            try await log.begin(range)
            log.end(range)
        }
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

    /// A client that flushes after every write (a database, a filesystem's
    /// journal) must not pay a sync of the log on each write: its regions
    /// stay active across flushes while no more than the limit are.
    @Test func flushedRegionsStayActiveUpToTheLimit() async throws {
        let journal = try freshJournal(activeLimit: 4)
        let log = try ActivityLog(journal: journal)
        try await write([0, 1, 2, 3], to: log)
        try await log.cool(after: log.flushMark())
        #expect(log.activeCount == 4)
        #expect(log.beginWithoutSync(0..<4096), "a write to a region kept active needs no sync")
        log.end(0..<4096)
        try await journal.close()
    }

    /// Past the limit, the regions written least recently cool first, so a
    /// crash resyncs at most the limit's worth of flushed regions.
    @Test func pastTheLimitTheLeastRecentlyWrittenRegionsCool() async throws {
        let journal = try freshJournal(activeLimit: 2)
        let log = try ActivityLog(journal: journal)
        try await write([5, 6, 7, 5], to: log)
        try await log.cool(after: log.flushMark())
        #expect(log.activeRanges == [5 << 20..<6 << 20, 7 << 20..<8 << 20])
        // Cooled regions need a sync again before their next write.
        #expect(!log.beginWithoutSync(6 << 20..<(6 << 20) + 4096))
        try await journal.close()
    }

    /// Only a flush that came after a region's last write ended may cool it,
    /// however far past the limit the log is.
    @Test func aRegionWrittenAfterTheFlushBeganStaysActivePastTheLimit() async throws {
        let journal = try freshJournal(activeLimit: 0)
        let log = try ActivityLog(journal: journal)
        try await write([1], to: log)
        let mark = log.flushMark()
        try await write([2], to: log)
        try await log.cool(after: mark)
        #expect(log.activeRanges == [2 << 20..<3 << 20])
        try await journal.close()
    }

    /// The kept regions are on disk: a log opened again (after a crash)
    /// finds exactly them active.
    @Test func theRegionsKeptActiveAreWhatALogOpenedAgainFinds() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("buse-activity-\(UUID().uuidString)").path
        paths.append(path)
        var limits = Journal.Limits()
        limits.activeRegionLimit = 1
        let journal = try Journal(path: path, volumeSize: 64 << 20, limits: limits)
        let log = try ActivityLog(journal: journal)
        try await write([3, 9], to: log)
        try await log.cool(after: log.flushMark())
        try await journal.sync()
        try await journal.close()
        let reopened = try Journal(path: path, volumeSize: 64 << 20, limits: limits)
        #expect(try ActivityLog(journal: reopened).activeRanges == [9 << 20..<10 << 20])
        try await reopened.close()
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
