import Foundation
import Logging
import Prometheus
import ServiceMetrics
import Sockets
import Synchronization
import TestSupport
import Testing

/// The `--metrics` endpoint over a real loopback socket: scrapes are
/// served, bad requests refused with a status, and slow or hostile clients
/// never keep it from serving the next scrape.
@Suite struct MetricsEndpointTests {
    static func endpoint() throws -> (MetricsEndpoint, MetricsRegistry) {
        let registry = MetricsRegistry()
        registry.prometheus.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "test_scrapes", unitName: "total", helpText: "A counter for the test."), labels: []
        ).increment(by: Int64(7))
        var logger = Logger(label: "metrics-test")
        logger.logLevel = .critical
        let endpoint = try MetricsEndpoint(.tcp(host: "127.0.0.1", port: 0), registry: registry, logger: logger)
        return (endpoint, registry)
    }

    @Test func aScrapeGetsTheTextFormat() async throws {
        let (endpoint, _) = try Self.endpoint()
        defer { endpoint.close() }
        let wire = HTTPWire(port: Int(endpoint.port))
        let reply = try await runOnThread { try wire.exchange("GET", "/metrics") }
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let body = String(decoding: reply.body, as: UTF8.self)
        #expect(body.contains("# HELP test_scrapes_total A counter for the test."))
        #expect(body.contains("test_scrapes_total 7"))
        let head = try await runOnThread { try wire.exchange("HEAD", "/metrics") }
        #expect(head.status == 200 && head.body.isEmpty)
    }

    @Test func badRequestsAreRefusedAndTheEndpointStaysUp() async throws {
        let (endpoint, _) = try Self.endpoint()
        defer { endpoint.close() }
        let wire = HTTPWire(port: Int(endpoint.port))
        let garbage = try await runOnThread { try wire.send(Array("\u{0}\u{1}garbage\r\n\r\n".utf8), []) }
        #expect(garbage?.status == 400)
        let post = try await runOnThread { try wire.exchange("POST", "/metrics", body: Array("x".utf8)) }
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")
        let missing = try await runOnThread { try wire.exchange("GET", "/nothing") }
        #expect(missing.status == 404)
        let oversized = try await runOnThread {
            try wire.exchange("GET", "/metrics", headers: [("X-Filler", String(repeating: "a", count: 32 << 10))])
        }
        #expect(oversized.status == 431)
        let after = try await runOnThread { try wire.exchange("GET", "/metrics") }
        #expect(after.status == 200)
    }

    /// Slowloris: clients that send half a head and then nothing. Fewer
    /// than the limit cost a scrape nothing; the limit's worth delay new
    /// scrapes only until their deadline closes them with 408.
    @Test func slowClientsAreClosedAndScrapesGoOn() async throws {
        let (endpoint, _) = try Self.endpoint()
        defer { endpoint.close() }
        let port = Int(endpoint.port)
        let wire = HTTPWire(port: port)
        let answers = Answers()
        let slow = MetricsEndpoint.maximumClients
        let stalled = Task {
            await runOnThreads(slow) { _ in
                let reply = try? HTTPWire(port: port).send(Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8), [])
                answers.add(reply?.status)
            }
        }
        // While every slot may be held, a scrape is either refused (closed
        // with no answer) or served; once the stalled ones are closed, it is served.
        var served = false
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(180)
        while !served && clock.now < deadline {
            let reply = try? await runOnThread { try wire.exchange("GET", "/metrics") }
            served = reply?.status == 200
            if !served { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(served, "no scrape was served within 3 minutes of \(slow) stalled clients")
        await stalled.value
        // The scrapes above take a slot at a time, so at most one stalled
        // client found none free and was closed at once (no answer).
        let statuses = answers.statuses
        #expect(statuses.allSatisfy { $0 == 408 || $0 == nil }, "\(statuses)")
        #expect(statuses.filter { $0 == 408 }.count >= slow - 1, "stalled clients are answered 408 and closed: \(statuses)")
    }
}

private final class Answers: Sendable {
    private let state = Mutex<[Int?]>([])
    func add(_ status: Int?) { state.withLock { $0.append(status) } }
    var statuses: [Int?] { state.withLock { $0 } }
}
