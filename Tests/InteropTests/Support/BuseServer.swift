import Foundation
import TestSupport
import Testing

/// The built `buse serve`, listening on a Unix socket in the test's own
/// directory, so tests can run side by side. Stop it with ``stop()``, which
/// asks for the graceful shutdown (SIGTERM) and returns how it ended.
final class BuseServer: Sendable {
    let directory: TemporaryDirectory
    let socketPath: String
    let process: ChildProcess

    /// Starts buse with `exports` (NAME=URI each) and extra `options`, and
    /// waits until it listens and, unless `waitForSignalHandler` is false,
    /// until it catches SIGTERM.
    init(
        exports: [String], options: [String] = [], in directory: TemporaryDirectory,
        environment: [String: String]? = nil, waitForSignalHandler: Bool = true
    ) async throws {
        self.directory = directory
        socketPath = directory.file("buse.sock")
        var arguments = ["serve", "--unix", socketPath]
        for export in exports { arguments += ["--export", export] }
        arguments += options
        process = try ChildProcess(
            try Tool.buse(), arguments, outputPrefix: directory.unique("buse"), environment: environment,
            currentDirectory: directory.path)
        // The hints go to stdout after every listener is listening, so the
        // socket file together with the hints means connects will succeed.
        let socketPath = socketPath
        let process = process
        try await waitUntil("buse listens on \(socketPath)", timeout: .seconds(120)) {
            if let ended = process.termination {
                throw InteropError(
                    "buse \(ended) before listening:\n\(process.commandLine)\n\(process.standardErrorTail())")
            }
            return FileManager.default.fileExists(atPath: socketPath) && process.standardOutput.contains("export ")
        }
        // buse installs its SIGTERM handler only after it listens and prints
        // its hints, so a SIGTERM sent in between is lost or kills it (see
        // SignalTests). Waiting here keeps that bug out of every other test.
        if waitForSignalHandler {
            try await waitUntil("buse catches SIGTERM", timeout: .seconds(120)) {
                Self.catches(SIGTERM, processIdentifier: process.processIdentifier)
            }
        }
    }

    /// Whether the process has a handler installed for `signalNumber`
    /// (the SigCgt mask in /proc/PID/status).
    static func catches(_ signalNumber: Int32, processIdentifier: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
            let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << UInt64(signalNumber - 1)) != 0
    }

    /// The TCP port of a `--listen 127.0.0.1:0` listener, as the start-up
    /// hints print it.
    var tcpPort: Int? {
        for line in process.standardOutput.split(separator: "\n") where line.hasPrefix("export ") && line.contains("127.0.0.1:") {
            let tail = line.split(separator: "127.0.0.1:").last ?? ""
            return Int(tail.prefix { $0.isNumber })
        }
        return nil
    }

    /// The NBD URI of an export on this server.
    func uri(_ export: String) -> String { "nbd+unix:///\(export)?socket=\(socketPath)" }

    /// Sends SIGTERM and waits (bounded) for buse to exit; nil if it did not.
    func stop(timeout: Duration = .seconds(120)) async -> Termination? {
        process.send(SIGTERM)
        return await process.waitForTermination(timeout: timeout)
    }

    /// What buse logged, for failure messages: after a crash, the fatal
    /// error and the frames in buse's own sources; otherwise the last lines.
    var log: String {
        let lines = process.standardError.split(separator: "\n")
        guard let fatal = lines.firstIndex(where: { $0.contains("Fatal error") }) else {
            return process.standardErrorTail(lines: 40)
        }
        let frames = lines[fatal...].filter { $0.contains(" at /") }.prefix(8)
        return ([lines[fatal]] + frames).joined(separator: "\n")
    }

    /// Stops buse and records a failure unless it exited 0, as a SIGTERM
    /// (graceful shutdown) must.
    func stopExpectingCleanExit(sourceLocation: SourceLocation = #_sourceLocation) async {
        let ended = await stop()
        #expect(
            ended == .exit(0),
            "buse should exit 0 after SIGTERM, but it \(ended?.description ?? "was still running 30 s later"):\n\(log)",
            sourceLocation: sourceLocation)
    }
}
