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
        let pidFile = directory.file("nbdkit.pid")
        // nbdkit writes its PID file only once it is listening.
        process = try ChildProcess(
            try Tool.path("nbdkit"),
            ["-U", socketPath, "-P", pidFile, "-f", "-e", exportName] + (readOnly ? ["-r"] : []) + ["file", file],
            outputPrefix: directory.unique("nbdkit"), currentDirectory: directory.path)
        let process = process
        try await waitUntil("nbdkit listens on \(socketPath)", timeout: .seconds(120)) {
            if let ended = process.termination {
                throw InteropError("nbdkit \(ended) before listening:\n\(process.standardErrorTail())")
            }
            return FileManager.default.fileExists(atPath: pidFile)
        }
    }

    func uri() -> String { "nbd+unix:///\(exportName)?socket=\(socketPath)" }

    func stop(timeout: Duration = .seconds(120)) async -> Termination? {
        process.send(SIGTERM)
        return await process.waitForTermination(timeout: timeout)
    }

    var log: String { process.standardErrorTail(lines: 40) }
}
