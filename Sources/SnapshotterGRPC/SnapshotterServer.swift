public import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc
public import Logging
import SnapshotterStorage

/// `buse snapshotter serve`: the snapshot service on a Unix socket.
public final class SnapshotterServer: Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let thread: StorageThread
    private let logger: Logger

    /// Opens (creating) the store under `root` and prepares to serve on
    /// `socket`, replacing a stale socket file left by an earlier run.
    /// `interceptors` see every call (`SnapshotterMetrics`).
    public init(root: String, socket: String, logger: Logger, interceptors: [any ServerInterceptor] = []) throws {
        let store = try SnapshotStore(root: root)
        thread = StorageThread()
        self.logger = logger
        if unlink(socket) != 0 && errno != ENOENT {
            throw SnapshotStoreError("remove the stale socket \(socket)", errno: errno)
        }
        server = GRPCServer(
            transport: .http2NIOPosix(address: .unixDomainSocket(path: socket), transportSecurity: .plaintext),
            services: [SnapshotService(store: store, thread: thread)], interceptors: interceptors)
    }

    /// Serves until ``shutdown()``; calls in flight finish first.
    public func serve() async throws {
        defer { thread.close() }
        try await server.serve()
    }

    /// Where the server listens, once it does: tests wait for it.
    public func listeningAddress() async throws -> String {
        let address = try await server.listeningAddress
        return address.map { "\($0)" } ?? "none"
    }

    public func shutdown() { server.beginGracefulShutdown() }
}
