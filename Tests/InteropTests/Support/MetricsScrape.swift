import Foundation
import TestSupport

/// A `--metrics` endpoint of a buse process under test: its port is read
/// from the process's log line `metrics at http://127.0.0.1:PORT/metrics`.
struct MetricsScrape {
    let port: Int

    /// Waits (bounded) until `process` logs where its metrics are.
    init(of process: ChildProcess) async throws {
        var found: Int?
        try await waitUntil("the process logs its metrics address", timeout: .seconds(60)) {
            if let ended = process.termination { throw InteropError("\(process.commandLine) \(ended):\n\(process.standardErrorTail())") }
            found = Self.port(in: process.standardError)
            return found != nil
        }
        port = found!
    }

    static func port(in log: String) -> Int? {
        guard let marker = log.range(of: "metrics at http://127.0.0.1:") else { return nil }
        return Int(log[marker.upperBound...].prefix { $0.isNumber })
    }

    var target: String { "127.0.0.1:\(port)" }

    /// One scrape with curl, the text as served.
    func text(in directory: TemporaryDirectory) async throws -> String {
        let result = try await runChecked(
            "curl", ["-sS", "--fail", "--max-time", "60", "http://\(target)/metrics"], in: directory, timeout: .seconds(90))
        return result.standardOutput
    }

    /// Scrapes and runs `promtool check metrics` on the text; returns the text.
    @discardableResult
    func checkedByPromtool(in directory: TemporaryDirectory) async throws -> String {
        let text = try await text(in: directory)
        try await Self.promtoolCheck(text, in: directory)
        return text
    }

    static func promtoolCheck(_ text: String, in directory: TemporaryDirectory) async throws {
        let file = directory.unique("scrape") + ".txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let promtool = try Tool.path("promtool")
        let result = try await run("sh", ["-c", "\(promtool) check metrics < \(shellQuoted(file))"], in: directory)
        guard result.succeeded else {
            throw InteropError("promtool check metrics refused the exposition:\n\(result)\n\(text.prefix(3000))")
        }
    }

    /// The value of one series (`name{labels}` exactly as exposed), if present.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// The lines of families whose name starts with `prefix`, sorted (to compare two expositions).
    static func lines(_ text: String, prefix: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) || $0.hasPrefix("# HELP \(prefix)") || $0.hasPrefix("# TYPE \(prefix)") }
            .map(String.init).sorted()
    }
}
