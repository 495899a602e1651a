import Glibc
import Synchronization

/// A listening socket and its accept loop (on its own thread). Also used
/// by the replication listener of `buse replica` and the control socket.
///
/// Once the accept loop runs, it alone closes the descriptor, when it ends.
/// ``close()`` only shuts the socket down to wake it: the loop may be
/// between two `accept` calls, and had the number been closed under it, its
/// next `accept` could land on whatever socket reused the number (another
/// server's listener), taking that server's clients and hanging up on them.
public final class Listener: Sendable {
    public let address: ListenAddress
    let descriptor: Int32
    /// The port actually bound (differs from the asked one when it was 0).
    public let boundPort: UInt16
    private let state = Mutex(State())

    private struct State {
        var closing = false
        var looping = false
        var descriptorOpen = true
    }

    public init(_ address: ListenAddress) throws(ListenError) {
        self.address = address
        switch address {
        case let .tcp(host, port):
            (descriptor, boundPort) = try Self.bindTCP(host: host, port: port, address: address)
        case let .unix(path):
            descriptor = try Self.bindUnix(path: path, address: address)
            boundPort = 0
        }
        guard listen(descriptor, 128) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw .system("listen", address, code)
        }
    }

    /// Accepts until the listener is closed, handing each socket to `accepted`.
    public func acceptLoop(_ accepted: @Sendable (Socket) -> Void) {
        let starts = state.withLock { state -> Bool in
            guard !state.closing, state.descriptorOpen else { return false }
            state.looping = true
            return true
        }
        guard starts else { return }
        defer {
            state.withLock { state in
                state.looping = false
                state.descriptorOpen = false
                Glibc.close(descriptor)
            }
        }
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                // Out of descriptors: the waiting client stays queued until
                // one is freed. Retrying at once would spin a core for as
                // long as that lasts; a short pause costs the queue nothing.
                if errno == EMFILE || errno == ENFILE {
                    usleep(10_000)
                    continue
                }
                return  // closed by shutdown
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            if case .tcp = address { Self.configureAccepted(client) }
            accepted(Socket(descriptor: client))
        }
    }

    /// How long an accepted TCP connection may be silent before the kernel
    /// probes it, how often it probes and how many unanswered probes close
    /// it: a client whose host crashed or whose network was cut without a
    /// reset is noticed after about two minutes of silence (60 + 6 × 10 s),
    /// and its connection, thread and `--max-connections` slot are freed. An
    /// idle but live client answers the probes and is never closed; a client
    /// still negotiating is bounded by the handshake timeout instead.
    public static let keepaliveIdleSeconds: Int32 = 60
    public static let keepaliveIntervalSeconds: Int32 = 10
    public static let keepaliveProbes: Int32 = 6

    private static func configureAccepted(_ descriptor: Int32) {
        func set(_ level: Int32, _ option: Int32, _ value: Int32) {
            var value = value
            setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        // Replies are written whole; Nagle would only add latency.
        set(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, keepaliveIdleSeconds)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, keepaliveIntervalSeconds)
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, keepaliveProbes)
    }

    /// Stops accepting: wakes the accept loop (which then closes the
    /// descriptor) and removes a Unix socket's file. Idempotent.
    public func close() {
        let first = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            state.closing = true
            guard state.descriptorOpen else { return true }
            Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
            if !state.looping {
                state.descriptorOpen = false
                Glibc.close(descriptor)
            }
            return true
        }
        if first, case let .unix(path) = address { unlink(path) }
    }

    private static func bindTCP(host: String, port: UInt16, address: ListenAddress) throws(ListenError) -> (Int32, UInt16) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw .badAddress(host, String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(results) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", address, errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw .system("bind", address, code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> UInt16 in
                getsockname(fd, pointer, &length)
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        }
        return (fd, bound)
    }

    private static func bindUnix(path: String, address: ListenAddress) throws(ListenError) -> Int32 {
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
        guard path.utf8.count < capacity else { throw .badAddress(path, "a Unix socket path must be under \(capacity) bytes") }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", address, errno) }
        // A socket file left by a previous run that died is stale: replace it.
        if connectable(path) == false { unlink(path) }
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw .system("bind", address, code)
        }
        return fd
    }

    /// Whether a server answers at `path`; nil when there is no file there.
    private static func connectable(_ path: String) -> Bool? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else { return true }  // not ours to remove
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { Glibc.close(probe) }
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }
}
