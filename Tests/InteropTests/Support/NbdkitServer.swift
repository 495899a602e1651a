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

    init(file: String, exportName: String, readOnly: Bool = false, in directory: TemporaryDirectory) async throws {
        socketPath = directory.file("nbdkit.sock")
        self.exportName = exportName
        let arguments = ["-U", socketPath, "-f", "-e", exportName] + (readOnly ? ["-r"] : []) + ["file", file]
        var attempt = 1
        while true {
            try? FileManager.default.removeItem(atPath: socketPath)
            let started = try await Self.start(arguments, in: directory)
            if let started {
                process = started
                return
            }
            guard attempt < 2 else { throw InteropError("nbdkit exited with status 0 before listening, twice") }
            FileHandle.standardError.write(Data("nbdkit exited with status 0 before listening; starting it again\n".utf8))
            attempt += 1
        }
    }

    /// Runs `requests` against nbdkit serving `file`, which `prepare` makes
    /// afresh each time (it runs before nbdkit starts). If nbdkit ends while
    /// the requests run (see the type's comment), `requests` is run once
    /// more on a new nbdkit over a new copy; any other failure is thrown,
    /// with nbdkit's state and log added.
    static func answering<Answers>(
        file: String, exportName: String, readOnly: Bool = false, in directory: TemporaryDirectory,
        prepare: () async throws -> Void = {}, _ requests: (NbdkitServer) async throws -> Answers
    ) async throws -> (answers: Answers, server: NbdkitServer) {
        var attempt = 1
        while true {
            try await prepare()
            let server = try await NbdkitServer(file: file, exportName: exportName, readOnly: readOnly, in: directory)
            do {
                return (try await requests(server), server)
            } catch {
                // Its waiter thread may not have run yet on a busy machine.
                guard let ended = await server.process.waitForTermination(timeout: .seconds(30)) else {
                    throw InteropError("\(error)\n--- nbdkit is still running; its log:\n\(server.log)")
                }
                guard attempt < 2 else {
                    throw InteropError("\(error)\n--- nbdkit \(ended) under the requests, twice; its log:\n\(server.log)")
                }
                FileHandle.standardError.write(
                    Data("nbdkit \(ended) while the requests ran; starting it again on a new copy\n".utf8))
                attempt += 1
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
