import Foundation

/// One HTTP/1.1 exchange with a server on a blocking loopback socket:
/// `Connection: close`, the request written in pieces with a progress
/// callback after each, the reply read to end of file. Written for tests
/// that must act at an exact point of a request (kill the server after so
/// many bytes) and that run pushers on their own threads, never on the
/// cooperative pool.
public struct HTTPWire: Sendable {
    public let port: Int

    public init(port: Int) { self.port = port }

    public struct Reply: Sendable, CustomStringConvertible {
        public let status: Int
        /// Header names lowercased.
        public let headers: [String: String]
        public let body: [UInt8]

        public var description: String { "\(status) \(String(decoding: body.prefix(300), as: UTF8.self))" }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// How much of a body goes out between two progress calls: small
    /// enough that a kill can land inside a body.
    public static let pieceLength = 16 << 10

    /// Sends one request and reads the whole reply. `progress` gets the
    /// number of bytes just written (the head counts as 100).
    public func exchange(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [],
        progress: (Int) -> Void = { _ in }
    ) throws -> Reply {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if !headers.contains(where: { $0.0.lowercased() == "content-length" }) { head += "Content-Length: \(body.count)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        guard let reply = try send(Array((head + "\r\n").utf8), body, progress: progress) else {
            throw Failure(description: "\(method) \(target): the connection closed without a reply")
        }
        return reply
    }

    /// Sends `head` (the request line and headers, as given: it may lie)
    /// and `body`, then, with `halfClose`, shuts the sending side as a client
    /// that stopped mid-body would. Returns the first reply, or nil when the
    /// server closed the connection without one.
    public func send(_ head: [UInt8], _ body: [UInt8], halfClose: Bool = false, progress: (Int) -> Void = { _ in }) throws -> Reply? {
        let socket = try connect()
        defer { close(socket) }
        try write(head, to: socket)
        progress(100)
        var offset = 0
        while offset < body.count {
            let end = min(offset + Self.pieceLength, body.count)
            do {
                try write(Array(body[offset..<end]), to: socket)
            } catch {
                // The server may answer and close before reading it all (a
                // manifest over the limit): its reply is still there to read.
                break
            }
            progress(end - offset)
            offset = end
        }
        if halfClose { shutdown(socket, Int32(SHUT_WR)) }
        let bytes = try readToEnd(socket)
        return bytes.isEmpty ? nil : try Self.parse(bytes)
    }

    private func connect() throws -> Int32 {
        // A safety net, not a measure of the server's speed. A minute was
        // too short: in a full CI run a registry commit waited about 70 s
        // for the shared filesystem's writeback (the grouped syncfs, while
        // other suites wrote gigabytes to loop-device files on it), and the
        // fuzz test's first push failed with EAGAIN.
        try Self.connectToLoopback(port: port)
    }

    /// How long a blocking read or write may wait before the test fails:
    /// only a hang should reach it.
    public static let hangGuardSeconds = 600

    /// A blocking TCP socket connected to 127.0.0.1:`port`, its reads and
    /// writes given up after ``hangGuardSeconds``; `receiveBuffer` sets
    /// SO_RCVBUF before connecting (when the window is agreed).
    static func connectToLoopback(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: hangGuardSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var receiveBuffer {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(socket)
            throw Failure(description: "connect to port \(port): errno \(code)")
        }
        return socket
    }

    private func write(_ bytes: [UInt8], to socket: Int32) throws {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure(description: "send: errno \(errno)") }
            done += count
        }
    }

    private func readToEnd(_ socket: Int32) throws -> [UInt8] {
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            // A reset after a reply (the server closed with our bytes unread) ends it too.
            if count < 0 && errno == ECONNRESET { return reply }
            guard count >= 0 else {
                let why = errno == EAGAIN ? "no answer in \(Self.hangGuardSeconds) s" : "errno \(errno)"
                throw Failure(description: "recv: \(why)")
            }
            if count == 0 { return reply }
            reply += buffer[0..<count]
        }
    }

    /// The status, headers and body of a reply read to end of file; the
    /// body is cut to `Content-Length` when there is one.
    public static func parse(_ bytes: [UInt8]) throws -> Reply {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = bytes.firstRange(of: separator) else {
            throw Failure(description: "no complete reply head in \(bytes.count) bytes")
        }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusWords = lines[0].split(separator: " ")
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else { throw Failure(description: "bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[end.upperBound...])
        if let length = headers["content-length"].flatMap(Int.init), length < body.count { body = Array(body.prefix(length)) }
        return Reply(status: status, headers: headers, body: body)
    }
}

/// Runs `body` on a thread of its own and returns its result: for a blocking
/// client call made from a test, which must not sit on the cooperative pool
/// (two threads on two cores; an in-process server needs them to answer).
public func runOnThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs `body(0..<count)` each on its own thread and returns when all
/// have: for blocking clients, which must not sit on the cooperative pool.
public func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread.detachNewThread {
                body(index)
                group.leave()
            }
        }
        group.notify(queue: .global()) { continuation.resume() }
    }
}
