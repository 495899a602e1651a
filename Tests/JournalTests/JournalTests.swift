import Foundation
import Synchronization
import Testing

@testable import Journal

@Suite("Transaction log")
final class JournalTests {
    /// Every log folder a test made; removed when the test's instance goes,
    /// so runs leave nothing in the temporary directory.
    private var paths: [String] = []

    deinit {
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }

    func freshPath() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("buse-journal-\(UUID().uuidString)").path
        paths.append(path)
        return path
    }

    @Test func recordsGetIncreasingSequencesAndSurviveReopening() async throws {
        let path = freshPath()
        do {
            let journal = try Journal(path: path, volumeSize: 1 << 30)
            for index in 0..<10 {
                let sequence = try await journal.append(offset: UInt64(index) * 4096, length: 4096, checksum: UInt32(index), generation: 7)
                #expect(sequence == UInt64(index + 1))
            }
            try await journal.close()
        }
        let reopened = try Journal(path: path, volumeSize: 1 << 30)
        let records = try reopened.unacknowledged()
        #expect(records.map(\.sequence) == Array(1...10))
        #expect(records[3] == JournalRecord(sequence: 4, offset: 3 * 4096, length: 4096, checksum: 3, generation: 7))
        #expect(try await reopened.append(offset: 0, length: 1, checksum: 0, generation: 7) == 11)
    }

    /// Writes finish out of order: a record can be committed after one with
    /// a higher sequence. Reopened, the log must still hand out sequences
    /// above every record it holds; reusing one would overwrite that
    /// record, and the region it names would be forgotten by the next resync.
    @Test func recordsCommittedOutOfOrderNeverHaveTheirSequenceReused() async throws {
        let path = freshPath()
        do {
            let journal = try Journal(path: path, volumeSize: 1 << 30)
            let (first, second) = (journal.reserveSequence(), journal.reserveSequence())
            try await journal.append(JournalRecord(sequence: second, offset: 8192, length: 4096, checksum: 2, generation: 1))
            try await journal.append(JournalRecord(sequence: first, offset: 0, length: 4096, checksum: 1, generation: 1))
            try await journal.close()
        }
        let reopened = try Journal(path: path, volumeSize: 1 << 30)
        #expect(reopened.reserveSequence() == 3)
        #expect(try reopened.unacknowledged().map(\.offset) == [0, 8192])
    }

    @Test func concurrentAppendsAreAllCommittedWithDistinctSequences() async throws {
        let journal = try Journal(path: freshPath(), volumeSize: 1 << 30)
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<500 {
                group.addTask { try await journal.append(offset: UInt64(index) * 512, length: 512, checksum: 0, generation: 1) }
            }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        #expect(Set(sequences).count == 500)
        #expect(try journal.unacknowledged().count == 500)
    }

    @Test func acknowledgedRecordsAreTrimmed() async throws {
        let journal = try Journal(path: freshPath(), volumeSize: 1 << 30)
        for index in 0..<20 { _ = try await journal.append(offset: UInt64(index) << 20, length: 4096, checksum: 0, generation: 1) }
        try await journal.acknowledge(through: 15)
        #expect(try journal.unacknowledged().map(\.sequence) == Array(16...20))
        let expected: [Range<UInt64>] = (15..<20).map { index -> Range<UInt64> in
            let start = UInt64(index) << 20
            return start..<(start + 4096)
        }
        #expect(try journal.dirtyRanges() == expected)
    }

    @Test func aLongOutageFoldsIntoTheRegionBitmapAndNothingIsForgotten() async throws {
        var limits = Journal.Limits()
        limits.recordLimit = 10
        limits.regionLength = 1 << 20
        let journal = try Journal(path: freshPath(), volumeSize: 64 << 20, limits: limits)
        var written: [Range<UInt64>] = []
        for index in 0..<50 {
            let offset = UInt64(index * 1_234_567) % (60 << 20)
            written.append(offset..<(offset + 8192))
            _ = try await journal.append(offset: offset, length: 8192, checksum: 0, generation: 1)
        }
        try await journal.enforceBound()
        #expect(try journal.unacknowledged().count == 10)
        let dirty = try journal.dirtyRanges()
        for range in written {
            #expect(
                dirty.contains { $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound },
                "write \(range) must stay marked dirty")
        }
    }

    /// A peer in sync that hears no FLUSH for a while: records pile up past
    /// the bound and fold into regions. The FLUSH that acknowledges them
    /// clears those regions too, so an in-sync pair does not show gigabytes
    /// "dirty" once its writes are durable on the peer. A region marked dirty
    /// (a write the peer may hold and this disk refused) waits for a resync.
    @Test func anAcknowledgementThroughTheFoldedRecordsClearsTheirRegionsButNotMarkedOnes() async throws {
        var limits = Journal.Limits()
        limits.recordLimit = 10
        limits.regionLength = 1 << 20
        let journal = try Journal(path: freshPath(), volumeSize: 64 << 20, limits: limits)
        for index in 0..<40 {
            _ = try await journal.append(offset: UInt64(index % 30) << 20, length: 4096, checksum: 0, generation: 1)
        }
        try await journal.enforceBound()
        #expect(try journal.unacknowledged().count == 10)
        try await journal.markDirty([(50 << 20)..<((50 << 20) + 1)])

        try await journal.acknowledge(through: 29)  // short of the newest folded record (30)
        #expect(try journal.dirtyRanges().count > 1, "regions folded from record 30 are not acknowledged yet")

        try await journal.acknowledge(through: 40)
        #expect(try journal.unacknowledged().isEmpty)
        #expect(try journal.dirtyRanges() == [(50 << 20)..<(51 << 20)], "only the marked region stays dirty")
    }

    /// The writer thread is gone once the log is closed: a request then must
    /// fail at once, not wait forever for a thread that will never answer.
    @Test(.timeLimit(.minutes(1)))
    func requestsToAClosedLogFailInsteadOfWaitingForever() async throws {
        let journal = try Journal(path: freshPath(), volumeSize: 1 << 30)
        try await journal.close()
        await #expect(throws: JournalError.closed) { try await journal.setMetadata("role", [1]) }
        await #expect(throws: JournalError.closed) {
            _ = try await journal.append(offset: 0, length: 4096, checksum: 0, generation: 1)
        }
        let failure = Mutex<JournalError?>(nil)
        journal.appendDetached(JournalRecord(sequence: journal.reserveSequence(), offset: 0, length: 4096, checksum: 0, generation: 1)) {
            error, _ in failure.withLock { $0 = error }
        }
        #expect(failure.withLock { $0 } == .closed, "a detached append is told at once")
    }

    /// A flush does not wait for its acknowledgement, yet `buse status`
    /// must never count as lagging what both copies hold: the backlog
    /// counts what was queued without waiting, appends and trims alike.
    @Test func theBacklogCountsAppendsAndAcknowledgementsQueuedWithoutWaiting() async throws {
        let journal = try Journal(path: freshPath(), volumeSize: 1 << 30)
        let failure = Mutex<JournalError?>(nil)
        let failed: @Sendable (JournalError, UInt64) -> Void = { error, _ in failure.withLock { $0 = error } }
        var sequences: [UInt64] = []
        for index in 0..<3 {
            let sequence = journal.reserveSequence()
            sequences.append(sequence)
            journal.appendDetached(
                JournalRecord(sequence: sequence, offset: UInt64(index) << 20, length: 4096, checksum: 0, generation: 1),
                failed: failed)
        }
        #expect(try journal.backlog() == (3, 3 * 4096))
        journal.acknowledgeDetached(through: sequences[1], failed: failed)
        #expect(try journal.backlog() == (1, 4096))
        #expect(try journal.unacknowledged().map(\.sequence) == [sequences[2]])
        #expect(failure.withLock { $0 } == nil)
        try await journal.close()
    }

    @Test func aDetachedAcknowledgementToAClosedLogIsReported() async throws {
        let journal = try Journal(path: freshPath(), volumeSize: 1 << 30)
        try await journal.close()
        let failure = Mutex<(JournalError, UInt64)?>(nil)
        journal.acknowledgeDetached(through: 7) { error, sequence in failure.withLock { $0 = (error, sequence) } }
        #expect(failure.withLock { $0?.0 } == .closed && failure.withLock { $0?.1 } == 7)
    }

    @Test func metadataIsStoredDurably() async throws {
        let path = freshPath()
        do {
            let journal = try Journal(path: path, volumeSize: 1 << 20)
            try await journal.setMetadata("generation-history", [1, 2, 3])
            try await journal.close()
        }
        #expect(try Journal(path: path, volumeSize: 1 << 20).metadata("generation-history") == [1, 2, 3])
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        let value = Array("123456789".utf8).withUnsafeBytes { CRC32C.checksum($0) }
        #expect(value == 0xE306_9283)
    }

    /// Buffers from 256 bytes are folded with carry-less multiplication
    /// where the CPU has VPCLMULQDQ (blocks of 256, then of 64 bytes, then a
    /// tail); elsewhere buffers from 4080 bytes take a three-stream path
    /// (blocks of 12 KiB, then of 4080 bytes, joined by table shifts), which
    /// is checked on every CPU through `checksumWithoutFolding`. Every
    /// length around both paths' block edges, and a checksum continued
    /// across two calls (the second from an unaligned start), must equal a
    /// bit-by-bit computation.
    @Test(arguments: [
        0, 1, 7, 63, 64, 255, 256, 257, 319, 320, 321, 511, 512, 575, 4079, 4080, 4081, 4096, 8160, 8161, 12_287,
        12_288, 12_289, 12_288 + 4080 + 3, 24_576 + 5, 1 << 20, (1 << 20) + 13,
    ])
    func crc32cOfLongBuffersMatchesABitwiseComputation(length: Int) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(length)
        let bytes = (0..<length).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        var reference: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            reference ^= UInt32(byte)
            for _ in 0..<8 { reference = reference & 1 == 1 ? (reference >> 1) ^ 0x82F6_3B78 : reference >> 1 }
        }
        reference ^= 0xFFFF_FFFF
        let split = length / 3
        for checksum in [CRC32C.checksum, CRC32C.checksumWithoutFolding] {
            let (whole, continued) = bytes.withUnsafeBytes { buffer in
                let first = checksum(UnsafeRawBufferPointer(rebasing: buffer[..<split]), 0)
                return (checksum(buffer, 0), checksum(UnsafeRawBufferPointer(rebasing: buffer[split...]), first))
            }
            #expect(whole == reference)
            #expect(continued == reference)
        }
    }
}
