import ServiceMetrics
import Testing

/// What the metrics endpoint answers to each kind of request head.
@Suite struct ScrapeRequestTests {
    static func head(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test(arguments: [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", ScrapeRequest.Outcome.metrics(includeBody: true)),
        ("GET /metrics?x=1 HTTP/1.0\r\n\r\n", .metrics(includeBody: true)),
        ("HEAD /metrics HTTP/1.1\r\n\r\n", .metrics(includeBody: false)),
    ])
    func scrapesAreServed(text: String, expected: ScrapeRequest.Outcome) {
        #expect(ScrapeRequest.decide(head: Self.head(text)) == expected)
    }

    @Test(arguments: [
        ("POST /metrics HTTP/1.1\r\n\r\n", 405),
        ("DELETE /metrics HTTP/1.1\r\n\r\n", 405),
        ("GET / HTTP/1.1\r\n\r\n", 404),
        ("GET /metrics/../x HTTP/1.1\r\n\r\n", 404),
        ("GET /metrics HTTP/2.0\r\n\r\n", 505),
        ("GET /metrics\r\n\r\n", 400),
        ("GET  /metrics HTTP/1.1\r\n\r\n", 400),
        ("\u{1}\u{2}\u{3}\r\n\r\n", 400),
        ("GET /metrics HTTP/1.1\n\n", 400),
        ("\r\n\r\n", 400),
    ])
    func everythingElseIsRefusedWithItsStatus(text: String, status: Int) {
        guard case .refused(let refused, let reason) = ScrapeRequest.decide(head: Self.head(text)) else {
            Issue.record("\(text.debugDescription) was served")
            return
        }
        #expect(refused == status, "\(text.debugDescription): \(reason)")
        #expect(!reason.isEmpty)
    }

    @Test func theHeadEndsAfterTheFirstBlankLine() {
        #expect(ScrapeRequest.headEnd(in: Self.head("GET /metrics HTTP/1.1\r\n")) == nil)
        #expect(ScrapeRequest.headEnd(in: Self.head("GET / HTTP/1.1\r\n\r\nextra")) == 18)
        #expect(ScrapeRequest.headEnd(in: []) == nil)
    }
}
