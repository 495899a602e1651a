@testable import RadosDevice
import Testing
import Synchronization

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
        try await Task.sleep(for: .milliseconds(50))
        // A write that begins after the flush is not the flush's business.
        let later = try #require(ledger.begin(bytes: 4096))
        ledger.end(second, bytes: 4096, failure: nil)
        try await Task.sleep(for: .milliseconds(50))
        #expect(!flushed.isSet, "the first write is still in flight")
        ledger.end(first, bytes: 4096, failure: nil)
        await flush.value
        #expect(flushed.isSet)
        // Nothing earlier is in flight for a new flush but `later`.
        let next = Task { await ledger.waitForEarlierWrites() }
        ledger.end(later, bytes: 4096, failure: nil)
        await next.value
        #expect(ledger.bytesInFlight == 0)
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
