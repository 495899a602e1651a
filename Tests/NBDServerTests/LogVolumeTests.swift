import Foundation
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// A client that sends request after bad request fills the debug log,
    /// not the operator's: at most one summary line per interval at notice.
    @Suite("Log volume")
    struct LogVolumeTests {
        @Test(.timeLimit(.minutes(5)))
        func hundredsOfRefusedRequestsLeaveOneSummaryLineAndTheirCount() async throws {
            let log = CapturedLog()
            let fixture = try ServerFixture([TestExports.readOnly("archive")], logger: log.logger())
            try await onOwnThread {
                let client = try fixture.connect()
                _ = try client.handshake(export: "archive")
                for cookie in 0..<300 {
                    let reply = try client.roundTrip(
                        Request(.write, cookie: UInt64(cookie), offset: 0, length: 512), payload: pattern(512, seed: 1))
                    #expect(reply.errorCode == .permission)
                }
                try client.disconnect()
                client.close()
            }
            await fixture.stop()
            let summaries = log.count(atLeast: .notice, containing: "refused")
            // One for the first refusal, at most one per 10 s after it, and
            // one at the end with the count of the rest.
            #expect(summaries >= 1 && summaries <= 3, "\(summaries) lines at notice or above for 300 refusals")
            #expect(log.count(atLeast: .notice, containing: "more since the last report") >= 1, "the rest are counted")
            #expect(log.count(atLeast: .warning, containing: "refused") == 0, "a client's mistake is not a warning")
        }
    }
}
