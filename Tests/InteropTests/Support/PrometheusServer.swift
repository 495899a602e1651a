import Foundation
import TestSupport

/// A real Prometheus server for a test: its own configuration and data
/// directory, listening on a free loopback port, scraping `targets` every
/// two seconds. Queried through its HTTP API.
final class PrometheusServer: Sendable {
    let process: ChildProcess
    let port: Int
    let directory: TemporaryDirectory

    init(scraping targets: [String], in directory: TemporaryDirectory) async throws {
        self.directory = directory
        port = try DockerRegistryProcess.freePort()
        let config = directory.file("prometheus.yml")
        let list = targets.map { "\"\($0)\"" }.joined(separator: ", ")
        // A scrape that takes longer than its timeout fails, and every series
        // of the target goes stale until the next that succeeds: on a loaded
        // machine (the whole suite at once) 2 s was not enough and a panel
        // stayed empty for minutes. Scrapes are as patient as they may be
        // (the timeout cannot pass the interval); the rates look 30 s back.
        try """
        global:
          scrape_interval: 5s
          evaluation_interval: 5s
        scrape_configs:
          - job_name: buse
            scrape_timeout: 5s
            static_configs:
              - targets: [\(list)]
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let data = directory.file("prometheus-data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        process = try ChildProcess(
            try Tool.path("prometheus"),
            ["--config.file=\(config)", "--storage.tsdb.path=\(data)", "--web.listen-address=127.0.0.1:\(port)"],
            outputPrefix: directory.unique("prometheus"), currentDirectory: directory.path)
        let port = port
        try await waitUntil("prometheus is ready", timeout: .seconds(120)) {
            if let ended = process.termination {
                throw InteropError("prometheus \(ended):\n\(process.standardErrorTail())")
            }
            return Self.get(port, "/-/ready")?.status == 200
        }
    }

    /// One GET to the server; nil when it does not answer (yet).
    static func get(_ port: Int, _ target: String) -> HTTPWire.Reply? {
        try? HTTPWire(port: port).exchange("GET", target)
    }

    /// An instant query's result vector: each series' labels and value.
    func query(_ expression: String) async throws -> [(labels: [String: String], value: Double)] {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "+&=;")
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed) ?? expression
        let port = port
        let reply = try await runOnThread { try HTTPWire(port: port).exchange("GET", "/api/v1/query?query=\(encoded)") }
        guard reply.status == 200,
            let document = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any],
            let data = document["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else { throw InteropError("prometheus refused the query \(expression): \(reply)") }
        return result.map { series in
            let labels = series["metric"] as? [String: String] ?? [:]
            let pair = series["value"] as? [Any]
            let value = (pair?.last as? String).flatMap(Double.init) ?? .nan
            return (labels, value)
        }
    }

    /// Polls `expression` until `accept` holds for its result (bounded).
    @discardableResult
    func waitForQuery(
        _ expression: String, timeout: Duration = .seconds(180),
        _ accept: ([(labels: [String: String], value: Double)]) -> Bool = { !$0.isEmpty }
    ) async throws -> [(labels: [String: String], value: Double)] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last: [(labels: [String: String], value: Double)] = []
        while true {
            last = try await query(expression)
            if accept(last) { return last }
            guard clock.now < deadline else {
                throw InteropError("prometheus: \(expression) never gave the expected data in \(timeout); last: \(last)")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    func stop() async {
        process.send(SIGTERM)
        _ = await process.waitForTermination(timeout: .seconds(60))
    }
}
