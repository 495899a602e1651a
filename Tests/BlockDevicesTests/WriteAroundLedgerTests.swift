import Synchronization
import TestSupport
import Testing

@testable import RadosDevice

/// The books behind write-around: a budget of early-acknowledged bytes, a
/// flush that waits for exactly the writes acknowledged before it, and a
/// loss that every later flush reports.
@Suite struct WriteAroundLedgerTests {
    @Test func writesPastTheBudgetMustWaitForRados() {
        let ledger = WriteAroundLedger(limit: 10_000)
        let first = ledger.begin(bytes: 6000)
        #expect(first != nil)
        #expect(ledger.begin(bytes: 6000) == nil, "6000 more would exceed the 10000-byte budget")
        #expect(ledger.begin(bytes: 4000) != nil, "4000 more fit exactly")
        ledger.end(first!, bytes: 6000, failure: nil)
        #expect(ledger.bytesInFlight == 4000)
        #expect(ledger.begin(bytes: 6000) != nil, "the budget is free again once RADOS answered")
    }

    @Test func aFlushWaitsForEarlierWritesOnlyInWhateverOrderTheyComplete() async throws {
        let ledger = WriteAroundLedger(limit: 1 << 20)
        let first = try #require(ledger.begin(bytes: 4096))
        let second = try #require(ledger.begin(bytes: 4096))
        let flushed = Flag()
        let flush = Task {
            await ledger.waitForEarlierWrites()
            flushed.set()
        }
        try await waitUntil("the flush waits") { ledger.waiterCount == 1 }
        // A write that begins after the flush is not the flush's business.
        let later = try #require(ledger.begin(bytes: 4096))
        ledger.end(second, bytes: 4096, failure: nil)
        // Completions resume waiters synchronously inside `end`, so had the
        // second write released the flush, it would have left the books by now.
        #expect(ledger.waiterCount == 1, "the first write is still in flight")
        #expect(!flushed.isSet)
        ledger.end(first, bytes: 4096, failure: nil)
        #expect(ledger.waiterCount == 0)
        await flush.value
        #expect(flushed.isSet)
        // Nothing earlier is in flight for a new flush but `later`.
        let next = Task { await ledger.waitForEarlierWrites() }
        try await waitUntil("the next flush waits for the later write") { ledger.waiterCount == 1 }
        ledger.end(later, bytes: 4096, failure: nil)
        await next.value
        #expect(ledger.bytesInFlight == 0)
    }

    @Test func aWaitingFlushIsReportedOnceItWaits() async throws {
        let ledger = WriteAroundLedger(limit: 1 << 20)
        let write = try #require(ledger.begin(bytes: 4096))
        let reported = Mutex<Int?>(nil)
        let flush = Task { await ledger.waitForEarlierWrites { bytes in reported.withLock { $0 = bytes } } }
        try await waitUntil("the flush reports that it waits") { reported.withLock { $0 } == 4096 }
        ledger.end(write, bytes: 4096, failure: nil)
        await flush.value
        var silent = true
        await ledger.waitForEarlierWrites { _ in silent = false }
        #expect(silent, "a flush with nothing to wait for does not report waiting")
    }

    @Test func aFlushWithNothingInFlightReturnsAtOnce() async {
        let ledger = WriteAroundLedger(limit: 4096)
        await ledger.waitForEarlierWrites()
        let only = ledger.begin(bytes: 4096)!
        ledger.end(only, bytes: 4096, failure: nil)
        await ledger.waitForEarlierWrites()
        #expect(ledger.failure == nil)
    }

    @Test func theFirstLossIsKeptForEveryLaterFlush() {
        let ledger = WriteAroundLedger(limit: 1 << 20)
        let a = ledger.begin(bytes: 1)!, b = ledger.begin(bytes: 1)!, c = ledger.begin(bytes: 1)!
        ledger.end(b, bytes: 1, failure: "write b lost")
        ledger.end(a, bytes: 1, failure: nil)
        ledger.end(c, bytes: 1, failure: "write c lost")
        #expect(ledger.failure == "write b lost")
        #expect(ledger.failure == "write b lost", "reading it does not clear it")
    }

    @Test func manyWritesCompletingOutOfOrderKeepTheBooksStraight() async {
        let ledger = WriteAroundLedger(limit: 1 << 30)
        var open = (0..<20_000).map { _ in ledger.begin(bytes: 512)! }
        open.shuffle()
        for sequence in open { ledger.end(sequence, bytes: 512, failure: nil) }
        #expect(ledger.bytesInFlight == 0)
        await ledger.waitForEarlierWrites()
        let after = ledger.begin(bytes: 512)!
        #expect(after == 20_000)
    }
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
