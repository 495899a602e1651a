import Foundation
import Logging
import NBDServer

/// An in-process ``Server`` on a Unix socket in a fresh temporary directory,
/// with logging off unless `BUSE_TEST_LOG` is set (then everything goes to
/// standard error).
final class ServerFixture: Sendable {
    let server: Server
    let directory: String
    let socketPath: String

    init(
        _ exports: [Export], defaultName: String? = nil, limits: ConnectionLimits = ConnectionLimits(),
        admission: AdmissionLimits = AdmissionLimits(), logger: Logger? = nil
    ) throws {
        var template = Array("/tmp/buse-server-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ClientError.system("mkdtemp", errno) }
        directory = String(cString: made)
        socketPath = directory + "/nbd.sock"
        server = Server(
            exports: ExportTable(exports, defaultName: defaultName), limits: limits, admission: admission,
            logger: logger ?? Self.logger())
        try server.start(listening: [.unix(path: socketPath)])
    }

    private static func logger() -> Logger {
        guard let level = ProcessInfo.processInfo.environment["BUSE_TEST_LOG"] else {
            return Logger(label: "buse-test", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "buse-test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: level) ?? .trace
        return logger
    }

    /// A new raw connection to the server (not yet negotiated).
    func connect() throws(ClientError) -> RawClient { try RawClient(path: socketPath) }

    /// Shuts the server down gracefully and removes the directory.
    func stop() async {
        await server.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` against a fresh server, which is always stopped afterwards.
func withServer<T: Sendable>(
    _ exports: [Export], defaultName: String? = nil, limits: ConnectionLimits = ConnectionLimits(),
    _ body: (ServerFixture) async throws -> T
) async throws -> T {
    let fixture = try ServerFixture(exports, defaultName: defaultName, limits: limits)
    do {
        let result = try await body(fixture)
        await fixture.stop()
        return result
    } catch {
        await fixture.stop()
        throw error
    }
}
