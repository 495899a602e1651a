import Foundation
import TestSupport

/// `nbdkit file FILE` on a Unix socket: the reference server the
/// differential test compares buse against.
final class NbdkitServer: Sendable {
    let socketPath: String
    let exportName: String
    let process: ChildProcess

    init(file: String, exportName: String, readOnly: Bool = false, in directory: TemporaryDirectory) async throws {
        socketPath = directory.file("nbdkit.sock")
        self.exportName = exportName
        let arguments = ["-U", socketPath, "-f", "-e", exportName] + (readOnly ? ["-r"] : []) + ["file", file]
        // nbdkit is the reference here, not what is tested. Twice in CI runs
        // it exited with status 0 and said nothing before it listened: that
        // is how it ends on SIGTERM, SIGINT or SIGHUP, which came from
        // outside this test (not found). It is then started once more, and
        // the test says so on standard error.
        var attempt = 1
        while true {
            let started = try await Self.start(arguments, attempt: attempt, in: directory)
            if let started {
                process = started
                return
            }
            guard attempt < 2 else { throw InteropError("nbdkit exited with status 0 before listening, twice") }
            FileHandle.standardError.write(Data("nbdkit exited with status 0 before listening; starting it again\n".utf8))
            try? FileManager.default.removeItem(atPath: socketPath)
            attempt += 1
        }
    }

    /// The process once it listens; nil when it exited 0 without a word
    /// before that (see above).
    private static func start(_ arguments: [String], attempt: Int, in directory: TemporaryDirectory) async throws -> ChildProcess? {
        // nbdkit writes its PID file only once it is listening.
        let pidFile = directory.file("nbdkit-\(attempt).pid")
        let process = try ChildProcess(
            try Tool.path("nbdkit"), ["-P", pidFile] + arguments,
            outputPrefix: directory.unique("nbdkit"), currentDirectory: directory.path)
        var quietExit = false
        try await waitUntil("nbdkit listens", timeout: .seconds(120)) {
            if let ended = process.termination {
                if ended == .exit(0) && process.standardError.isEmpty {
                    quietExit = true
                    return true
                }
                throw InteropError("nbdkit \(ended) before listening:\n\(process.standardErrorTail())")
            }
            return FileManager.default.fileExists(atPath: pidFile)
        }
        return quietExit ? nil : process
    }

    func uri() -> String { "nbd+unix:///\(exportName)?socket=\(socketPath)" }

    func stop(timeout: Duration = .seconds(120)) async -> Termination? {
        process.send(SIGTERM)
        return await process.waitForTermination(timeout: timeout)
    }

    var log: String { process.standardErrorTail(lines: 40) }
}
