import Foundation
import Glibc
import TestSupport
import Testing

/// buse's own threads carry names an operator can read in `top -H`,
/// `ps -L` or perf, instead of the `…default-qos` they would inherit from
/// the Swift pool thread that started them.
@Suite struct ThreadNameTests {
    @Test func aServingProcessNamesItsAcceptLoopAndItsConnectionThreads() async throws {
        let directory = try TemporaryDirectory()
        // A client that connects and says nothing: its connection thread
        // waits in the handshake meanwhile. Longer than the test's own wait,
        // so a starved test process still finds it (CI once checked only after
        // the default 30 s had closed it, and timed out).
        let server = try await BuseServer(
            exports: ["disk=memory:16M"], options: ["--handshake-timeout", "600"], in: directory)
        let client = try connectToUnixSocket(server.socketPath)
        defer { close(client) }

        let pid = server.process.processIdentifier
        try await waitUntil("buse names its threads", timeout: .seconds(120)) {
            let names = Self.threadNames(of: pid)
            return names.contains("nbd-accept") && names.contains("nbd-connection")
        }
        await server.stopExpectingCleanExit()
    }

    static func threadNames(of pid: pid_t) -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Set(
            tasks.compactMap {
                try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            })
    }
}
