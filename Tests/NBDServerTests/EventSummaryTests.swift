import Testing

@testable import NBDServer

/// Per-request events are summarised at most once per interval: the first
/// of a quiet period at once, the rest counted into the next line.
@Suite struct EventSummaryTests {
    /// Seconds after the start at which an event happens, and the line
    /// logged for it (nil: counted, not logged).
    static let transcript: [(at: Int, line: String?)] = [
        (0, "e0"),
        (1, nil),
        (2, nil),
        (9, nil),
        (10, "e10 (and 3 more since the last report, the latest: e9)"),
        (11, nil),
        (25, "e25 (and 1 more since the last report, the latest: e11)"),
        (40, "e40"),
    ]

    @Test func eventsAreReportedAtMostOncePerIntervalWithTheRestCounted() {
        let start = ContinuousClock.now
        var summary = EventSummary()
        for (at, line) in Self.transcript {
            #expect(summary.record("e\(at)", at: start + .seconds(at)) == line, "event at \(at) s")
        }
        #expect(summary.total == UInt64(Self.transcript.count))
        #expect(summary.finish() == nil, "nothing held back after a reported event")
    }

    @Test func whatIsHeldBackIsReportedWhenTheConnectionEnds() {
        let start = ContinuousClock.now
        var summary = EventSummary()
        #expect(summary.record("first", at: start) == "first")
        for second in 1...5 { #expect(summary.record("later \(second)", at: start + .seconds(second)) == nil) }
        #expect(summary.finish() == "5 more since the last report, the latest: later 5")
        #expect(summary.finish() == nil)
    }
}
