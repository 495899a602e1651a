import Foundation
import TestSupport
import Testing

/// The built `buse registry serve` on a fresh root in the test's directory,
/// listening on a free loopback port it reports in its hint line.
final class RegistryProcess: Sendable {
    static let hintPrefix = "registry: serving "

    let root: String
    let process: ChildProcess
    let port: Int

    /// Starts the registry and waits (bounded) for its hint line.
    init(in directory: TemporaryDirectory, root: String? = nil, options: [String] = []) async throws {
        let root = root ?? directory.file("registry")
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let arguments = ["registry", "serve", "--root", root, "--listen", "127.0.0.1:0"] + options
        let process = try ChildProcess(
            try Tool.buse(), arguments, outputPrefix: directory.unique("registry"), currentDirectory: directory.path)
        self.process = process
        try await waitUntil("the registry prints its hint line") {
            if let ended = process.termination {
                throw InteropError("buse registry \(ended) before listening:\n\(process.commandLine)\n\(process.standardErrorTail())")
            }
            return process.standardOutput.contains(Self.hintPrefix)
        }
        guard let line = process.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix(Self.hintPrefix) }),
            let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...])
        else { throw InteropError("no port in the hint line:\n\(process.standardOutput)") }
        self.port = port
    }

    /// `127.0.0.1:PORT`, for `docker://` references.
    var address: String { "127.0.0.1:\(port)" }

    /// Sends SIGTERM and waits (bounded) for the exit.
    func stop(timeout: Duration = .seconds(120)) async -> Termination? {
        process.send(SIGTERM)
        return await process.waitForTermination(timeout: timeout)
    }

    /// What the registry logged (its access log included), for failure messages.
    var log: String { process.standardErrorTail(lines: 60) }
}
