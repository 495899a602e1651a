import Foundation

/// One GET on a blocking loopback socket whose reply the test reads as it
/// likes: a part, then something else happens on the server, then the rest
/// or a reset. For a server that must cope with a reader that stalls
/// mid-body, vanishes, or outlives the file it reads. Every call blocks:
/// use it from a thread of its own (`runOnThread`), never from a task.
public final class HTTPSlowReader {
    private let socket: Int32
    private var open = true
    /// What arrived so far, head included.
    public private(set) var received: [UInt8] = []

    /// Connects and sends `GET target` (`Connection: close`). A small
    /// receive buffer keeps most of a large body on the server's side.
    public init(port: Int, target: String, headers: [(String, String)] = []) throws {
        // The timeout is a safety net for a loaded machine, not a measure of speed.
        socket = try HTTPWire.connectToLoopback(port: port, receiveBuffer: 64 << 10)
        var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let bytes = Array((head + "\r\n").utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else {
            close(socket)
            throw HTTPWire.Failure(description: "send: errno \(errno)")
        }
    }

    deinit { if open { close(socket) } }

    /// Reads until at least `count` bytes (head included) have arrived;
    /// fewer only when the server closed first.
    public func read(atLeast count: Int) throws {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < count {
            let length = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, min($0.count, count - received.count), 0) }
            if length < 0 && errno == EINTR { continue }
            guard length >= 0 else { throw HTTPWire.Failure(description: "recv: errno \(errno)") }
            if length == 0 { return }
            received += buffer[0..<length]
        }
    }

    /// Reads to end of file and parses the whole reply.
    public func readToEnd() throws -> HTTPWire.Reply {
        try read(atLeast: Int.max)
        return try HTTPWire.parse(received)
    }

    /// Closes with a reset (`SO_LINGER` 0), as a client that died mid-body.
    public func abort() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(socket)
        open = false
    }
}
