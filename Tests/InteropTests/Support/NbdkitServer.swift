import Foundation
import TestSupport

/// `nbdkit file FILE` on a Unix socket: the reference server the
/// differential test compares buse against.
///
/// nbdkit is the reference here, not what is tested, and three times in CI
/// runs it ended under a test: twice it exited with status 0 and said
/// nothing before it listened, once it stopped listening while a test's
/// requests were on their way (its socket refused the connection). Status 0
/// without a word is how nbdkit ends on SIGTERM, SIGINT, SIGQUIT or SIGHUP,
/// which came from outside the test (not found: nothing in the project
/// signals a process group, and every signal the tests send goes to a pid
/// whose end they have not yet seen). So nbdkit runs in a session of its
/// own, which no group or terminal signal reaches, and when it ends anyway
/// it is started again, once, and the test says so on standard error.
final class NbdkitServer: Sendable {
    let socketPath: String
    let exportName: String
    let process: ChildProcess

    private init(socketPath: String, exportName: String, process: ChildProcess) {
        self.socketPath = socketPath
        self.exportName = exportName
        self.process = process
    }

    /// Runs `requests` against nbdkit serving `file`, which `prepare` makes
    /// afresh before each start. nbdkit is started at most twice: again,
    /// once, if it exits 0 without a word before listening or ends while the
    /// requests run (see the type's comment), on a new copy. Any other
    /// failure is thrown, with nbdkit's state and log added.
    static func answering<Answers>(
        file: String, exportName: String, readOnly: Bool = false, in directory: TemporaryDirectory,
        prepare: () async throws -> Void = {}, _ requests: (NbdkitServer) async throws -> Answers
    ) async throws -> (answers: Answers, server: NbdkitServer) {
        let socketPath = directory.file("nbdkit.sock")
        let arguments = ["-U", socketPath, "-f", "-e", exportName] + (readOnly ? ["-r"] : []) + ["file", file]
        var restarted = false
        while true {
            try await prepare()
            try? FileManager.default.removeItem(atPath: socketPath)
            guard let process = try await start(arguments, in: directory) else {
                guard !restarted else { throw InteropError("nbdkit exited with status 0 before listening, after a restart") }
                FileHandle.standardError.write(Data("nbdkit exited with status 0 before listening; starting it again\n".utf8))
                restarted = true
                continue
            }
            let server = NbdkitServer(socketPath: socketPath, exportName: exportName, process: process)
            do {
                return (try await requests(server), server)
            } catch {
                // Its waiter thread may not have run yet on a busy machine.
                guard let ended = await server.process.waitForTermination(timeout: .seconds(30)) else {
                    throw InteropError("\(error)\n--- nbdkit is still running; its log:\n\(server.log)")
                }
                guard !restarted else {
                    throw InteropError("\(error)\n--- nbdkit \(ended) under the requests, after a restart; its log:\n\(server.log)")
                }
                FileHandle.standardError.write(
                    Data("nbdkit \(ended) while the requests ran; starting it again on a new copy\n".utf8))
                restarted = true
            }
        }
    }

    /// The process once it listens; nil when it exited 0 without a word
    /// before that (see the type's comment).
    private static func start(_ arguments: [String], in directory: TemporaryDirectory) async throws -> ChildProcess? {
        // nbdkit writes its PID file only once it is listening.
        let pidFile = directory.unique("nbdkit") + ".pid"
        let process = try ChildProcess(
            try Tool.path("nbdkit"), ["-P", pidFile] + arguments,
            outputPrefix: directory.unique("nbdkit"), currentDirectory: directory.path, newSession: true)
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
