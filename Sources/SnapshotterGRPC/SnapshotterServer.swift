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
    /// `socket`, replacing a stale socket file left by an earlier run and
    /// making its directory when missing: the documented
    /// `/run/buse/snapshotter.sock` lives on a tmpfs that is empty after
    /// every boot. `interceptors` see every call (`SnapshotterMetrics`).
    public init(root: String, socket: String, logger: Logger, interceptors: [any ServerInterceptor] = []) throws {
        try Self.checkSocketPath(socket)
        let store = try SnapshotStore(root: root)
        thread = StorageThread()
        self.logger = logger
        try Self.makeParentDirectories(of: socket)
        if unlink(socket) != 0 && errno != ENOENT {
            throw SocketPathError("cannot remove the stale socket \(socket): \(String(cString: strerror(errno)))")
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

    /// A Unix socket's path must fit `sun_path` with its terminating zero;
    /// said before anything is made, instead of as the transport's bind error.
    static func checkSocketPath(_ socket: String) throws(SocketPathError) {
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard !socket.isEmpty, socket.utf8.count < capacity else {
            throw SocketPathError(
                "--socket \(socket) is \(socket.utf8.count) bytes long; a Unix socket path is 1 to \(capacity - 1)")
        }
    }

    /// Makes the missing directories above `socket`, parents first, as
    /// `mkdir -p` would (mode 0755 less the umask).
    static func makeParentDirectories(of socket: String) throws(SocketPathError) {
        var missing: [String] = []
        var directory = parent(of: socket)
        var status = stat()
        while !directory.isEmpty, stat(directory, &status) != 0 {
            guard errno == ENOENT else {
                throw SocketPathError("cannot reach the socket's directory \(directory): \(String(cString: strerror(errno)))")
            }
            missing.append(directory)
            directory = parent(of: directory)
        }
        for directory in missing.reversed() where mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw SocketPathError("cannot create the socket's directory \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// The path above `path`: "" for a bare name or the root.
    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "" : String(path[..<slash])
    }
}

/// The snapshotter cannot listen where `--socket` says: the sentence says why.
public struct SocketPathError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
