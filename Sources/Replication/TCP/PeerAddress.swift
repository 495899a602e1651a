import Glibc
public import Logging
public import Sockets
public import TLS

/// Opening TCP connections to a peer, with the socket options replication needs.
public enum PeerAddress {
    /// Connects to `address` (HOST:PORT), giving up after `timeout`; with
    /// `credentials` (and the flag that gave them: `--peer-psk` or
    /// `--peer-certificates`), authenticates the replica with a TLS
    /// handshake before the channel exists, so no frame is sent to a peer
    /// that fails it.
    public static func connect(
        _ address: ListenAddress, timeout: Duration, userTimeout: Duration,
        credentials: (TLSCredentials, PeerCredentials)? = nil, logger: Logger? = nil
    ) throws(ReplicationError) -> TCPChannel {
        guard case let .tcp(host, port) = address else { throw .linkLost("replication needs a TCP address, not \(address)") }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw .linkLost("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let candidate = entry {
            entry = candidate.pointee.ai_next
            let descriptor = socket(
                candidate.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard descriptor >= 0 else { continue }
            if Glibc.connect(descriptor, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                lastError = String(cString: strerror(errno))
                Glibc.close(descriptor)
                continue
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if poll(&poller, 1, milliseconds) != 1 {
                lastError = "timed out"
                Glibc.close(descriptor)
                continue
            }
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &soError, &length)
            guard soError == 0 else {
                lastError = String(cString: strerror(soError))
                Glibc.close(descriptor)
                continue
            }
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
            configure(descriptor, userTimeout: userTimeout)
            var socket = Socket(descriptor: descriptor)
            if let (credentials, peer) = credentials {
                socket = try PeerHandshake.client(
                    socket, credentials: credentials, peer: peer, peerName: address.description,
                    logger: logger ?? Logger(label: "buse.replication"))
            }
            return TCPChannel(socket: socket, peerName: address.description)
        }
        throw .linkLost("cannot connect to \(address): \(lastError)")
    }

    /// No Nagle delay (every frame is written whole); keepalives and a user
    /// timeout, so a peer that vanished without a reset is noticed.
    public static func configure(_ descriptor: Int32, userTimeout: Duration) {
        func set(_ level: Int32, _ option: Int32, _ value: Int32) {
            var value = value
            setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        set(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, 5)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, 2)
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, 3)
        set(Int32(IPPROTO_TCP), 18 /* TCP_USER_TIMEOUT */, Int32(userTimeout.components.seconds * 1000))
    }
}
