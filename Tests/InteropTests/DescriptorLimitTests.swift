import Foundation
import TestSupport
import Testing

/// Started with a soft open-file limit of 1024 (systemd's default for a
/// service, below what `--max-connections` 1024 needs with the process's
/// own descriptors), buse raises it to the hard limit at start.
@Suite struct DescriptorLimitTests {
    @Test func aSoftOpenFileLimitIsRaisedToTheHardOne() async throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { throw InteropError("getrlimit: errno \(errno)") }
        let hard = limit.rlim_max == rlim_t.max ? 1 << 20 : limit.rlim_max
        try #require(hard > 1024, "the hard limit here (\(hard)) leaves nothing to raise")
        let directory = try TemporaryDirectory()
        let socketPath = directory.file("buse.sock")
        // prlimit execs buse in its own process: the pid is buse's.
        let server = try ChildProcess(
            try Tool.path("prlimit"),
            [
                "--nofile=1024:\(hard)", try Tool.buse(), "serve", "--export", "disk=memory:1M", "--unix", socketPath,
            ], outputPrefix: directory.unique("buse"), currentDirectory: directory.path)
        try await waitUntil("buse listens") {
            if let ended = server.termination { throw InteropError("buse \(ended):\n\(server.standardError)") }
            return FileManager.default.fileExists(atPath: socketPath) && server.standardOutput.contains("export ")
        }
        let limits = try String(contentsOfFile: "/proc/\(server.processIdentifier)/limits", encoding: .utf8)
        let openFiles = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }
        let soft = openFiles.flatMap { $0.dropFirst("Max open files".count).split(whereSeparator: \.isWhitespace).first }
        #expect(soft.flatMap { UInt($0) } == UInt(hard), "\(openFiles ?? "no open-files line")")
        server.send(SIGTERM)
        #expect(await server.waitForTermination(timeout: .seconds(120)) == .exit(0), "\(server.standardError)")
    }
}
