import Glibc

enum ClientError: Error, Equatable, CustomStringConvertible {
    /// The server closed the connection (end of stream, or a reset after it
    /// closed with our unread bytes still queued).
    case closed
    /// Nothing arrived within the client's timeout: the server hangs.
    case timedOut
    case system(String, Int32)
    /// The server sent something the spec does not allow here.
    case violation(String)

    var description: String {
        switch self {
        case .closed: "the server closed the connection"
        case .timedOut: "timed out waiting for the server"
        case let .system(call, code): "\(call): \(String(cString: strerror(code)))"
        case let .violation(what): "protocol violation: \(what)"
        }
    }
}

/// A blocking client on a raw Unix socket that sends exactly the bytes it is
/// given, so tests can speak the protocol correctly or break it at will.
/// Every read and write has a timeout, so a hung server fails a test rather
/// than hanging it.
// Safety: a client is used by one thread at a time, except in pipelined
// tests where one thread only sends and another only reads replies on a
// structured connection, which touches no stored state but the descriptor.
final class RawClient: @unchecked Sendable {
    let descriptor: Int32
    private var isClosed = false
    /// READs sent without structured replies, by cookie: a simple reply says
    /// nothing of its data's length, so the client must remember it.
    var pendingReadLengths: [UInt64: Int] = [:]

    /// Connects to a Unix socket.
    convenience init(path: String, timeout: Int = 120) throws(ClientError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        try self.init(family: AF_UNIX, address: address, timeout: timeout)
    }

    /// Connects to TCP `port` on 127.0.0.1.
    convenience init(tcpPort port: UInt16, timeout: Int = 120) throws(ClientError) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        try self.init(family: AF_INET, address: address, timeout: timeout)
    }

    private convenience init<Address>(family: Int32, address: Address, timeout: Int) throws(ClientError) {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var address = address
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw .system("connect", code)
        }
        self.init(connected: fd, timeout: timeout)
    }

    /// Takes over a socket that is already connected to the server (one end
    /// of a socketpair the server was given).
    init(connected fd: Int32, timeout: Int = 120) {
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        descriptor = fd
    }

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(descriptor)
    }

    /// Tells the server no more bytes are coming, keeping the reading side open.
    func shutdownWriting() { Glibc.shutdown(descriptor, Int32(SHUT_WR)) }

    func send(_ bytes: [UInt8]) throws(ClientError) {
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if result >= 0 {
                done += result
                continue
            }
            switch errno {
            case EINTR: continue
            case EPIPE, ECONNRESET: throw .closed
            case EAGAIN: throw .timedOut
            case let code: throw .system("send", code)
            }
        }
    }

    /// Exactly `count` bytes; `.closed` if the stream ends first.
    func receive(_ count: Int) throws(ClientError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + done, count - done, 0) }
            if result > 0 {
                done += result
                continue
            }
            if result == 0 { throw .closed }
            switch errno {
            case EINTR: continue
            case ECONNRESET: throw .closed
            case EAGAIN: throw .timedOut
            case let code: throw .system("recv", code)
            }
        }
        return bytes
    }

    /// Everything until the server closes the connection (at most `limit`
    /// bytes, so a server that streams for ever fails rather than hangs).
    func receiveUntilClosed(limit: Int = 1 << 20) throws(ClientError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let result = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if result > 0 {
                bytes += chunk[..<result]
                continue
            }
            if result == 0 { return bytes }
            switch errno {
            case EINTR: continue
            case ECONNRESET: return bytes
            case EAGAIN: throw .timedOut
            case let code: throw .system("recv", code)
            }
        }
        throw .violation("the server sent more than \(limit) bytes without closing")
    }

    /// Throws unless the server closes the connection without sending anything more.
    func expectClosedWithoutReply() throws(ClientError) {
        let extra: [UInt8]
        do {
            extra = try receiveUntilClosed()
        } catch .timedOut {
            throw .violation("expected the server to close the connection; it stayed open")
        }
        guard extra.isEmpty else { throw .violation("expected a close, got \(extra.count) more bytes") }
    }
}
