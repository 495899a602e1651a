import Foundation
import TestSupport
import Testing

/// A running `buse replica`: the secondary of a replicated volume, listening
/// for its primary on 127.0.0.1. Stop it with ``stop()`` (SIGTERM, the
/// clean way) or ``kill()`` (SIGKILL, a crash).
final class ReplicaProcess: Sendable {
    let process: ChildProcess
    /// The port it accepts its primary on.
    let port: UInt16

    /// Starts the replica and waits until it listens (it prints its port)
    /// and catches SIGTERM.
    init(device: String, state: String, port: UInt16, options: [String] = [], in directory: TemporaryDirectory) async throws {
        let process = try ChildProcess(
            try Tool.buse(),
            ["replica", "--listen", "127.0.0.1:\(port)", "--device", device, "--state", state] + options,
            outputPrefix: directory.unique("replica"), currentDirectory: directory.path)
        self.process = process
        var bound: UInt16?
        try await waitUntil("buse replica listens", timeout: .seconds(120)) {
            if let ended = process.termination {
                throw InteropError("buse replica \(ended) before listening:\n\(process.commandLine)\n\(process.standardErrorTail())")
            }
            bound = Self.boundPort(process.standardOutput)
            return bound != nil
        }
        self.port = bound!
        try await waitUntil("buse replica catches SIGTERM", timeout: .seconds(120)) {
            BuseServer.catches(SIGTERM, processIdentifier: process.processIdentifier)
        }
    }

    /// The port in "replica of volume … listening on 127.0.0.1:0 (port 41351), …".
    static func boundPort(_ output: String) -> UInt16? {
        guard let marker = output.range(of: "(port ") else { return nil }
        return UInt16(output[marker.upperBound...].prefix { $0.isNumber })
    }

    /// Sends SIGTERM and waits (bounded) for the replica to exit; nil if it did not.
    func stop(timeout: Duration = .seconds(120)) async -> Termination? {
        process.send(SIGTERM)
        return await process.waitForTermination(timeout: timeout)
    }

    /// Stops the replica and records a failure unless it exited 0.
    func stopExpectingCleanExit(sourceLocation: SourceLocation = #_sourceLocation) async {
        let ended = await stop()
        #expect(
            ended == .exit(0),
            "buse replica should exit 0 after SIGTERM, but it \(ended?.description ?? "was still running 30 s later"):\n\(log)",
            sourceLocation: sourceLocation)
    }

    /// Kills the replica with SIGKILL, as a crash would, and waits for it to die.
    func kill() async -> Termination? {
        process.send(SIGKILL)
        return await process.waitForTermination(timeout: .seconds(120))
    }

    var isRunning: Bool { process.termination == nil }

    /// The last lines the replica logged, for failure messages.
    var log: String { process.standardErrorTail(lines: 40) }
}
