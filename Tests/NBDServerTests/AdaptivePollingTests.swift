@testable import NBDServer
import Testing

/// When a connection's reader polls for its next request before blocking.
@Suite("Adaptive polling")
struct AdaptivePollingTests {
    @Test func aReaderWhosePollsFindDataKeepsPolling() {
        var polling = AdaptivePolling()
        for _ in 0..<1_000 {
            let polls = polling.shouldPoll()
            #expect(polls)
            polling.record(wasted: false)
        }
    }

    @Test func afterFourWastedPollsInARowItBlocksAtOnceAndProbesEvery32Waits() {
        var polling = AdaptivePolling()
        for _ in 0..<AdaptivePolling.wastedLimit {
            let polls = polling.shouldPoll()
            #expect(polls)
            polling.record(wasted: true)
        }
        var polled: [Int] = []
        for wait in 1...96 where polling.shouldPoll() {
            polled.append(wait)
            polling.record(wasted: true)
        }
        #expect(polled == [32, 64, 96])
    }

    @Test func aProbeThatFindsDataResumesPolling() {
        var polling = AdaptivePolling()
        for _ in 0..<AdaptivePolling.wastedLimit {
            _ = polling.shouldPoll()
            polling.record(wasted: true)
        }
        while !polling.shouldPoll() {}
        polling.record(wasted: false)
        let next = (polling.shouldPoll(), polling.shouldPoll())
        #expect(next == (true, true))
    }

    @Test func oneUsefulPollAmongWastedOnesStartsTheCountAgain() {
        var polling = AdaptivePolling()
        var everyWaitPolled = true
        for wasted in [true, true, true, false, true, true, true] {
            everyWaitPolled = everyWaitPolled && polling.shouldPoll()
            polling.record(wasted: wasted)
        }
        let nextPolls = polling.shouldPoll()
        #expect(everyWaitPolled && nextPolls)
    }
}
