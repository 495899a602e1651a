import Glibc
public import Logging
public import Sockets
import Synchronization
import Threading

/// `--metrics HOST:PORT`: a GET-only HTTP/1.1 responder for Prometheus
/// scrapes, on the project's own sockets so that the core `buse` (built
/// without the HTTP server package) serves it too.
///
/// One request per connection (`Connection: close`), each on a thread of
/// its own, at most ``maximumClients`` at once; the request head must
/// arrive whole within ``headDeadline`` and ``ScrapeRequest/maximumHeadBytes``,
/// so a client that trickles bytes or sends garbage is answered (or
/// dropped) and closed without holding the endpoint.
public final class MetricsEndpoint: Sendable {
    public static let maximumClients = 16
    public static let headDeadline: Duration = .seconds(10)

    public let port: UInt16
    private let listener: Listener
    private let clients = Atomic<Int>(0)
    private let refusals = RateLimitedLog()

    public init(_ address: ListenAddress, registry: MetricsRegistry, logger: Logger) throws(ListenError) {
        listener = try Listener(address)
        port = listener.boundPort
        SystemThread.start { [self] in
            listener.acceptLoop { socket in
                guard self.clients.add(1, ordering: .relaxed).newValue <= Self.maximumClients else {
                    self.clients.subtract(1, ordering: .relaxed)
                    self.refusals.log(logger, "metrics: refused a client: \(Self.maximumClients) scrapes already in progress")
                    socket.close()
                    return
                }
                SystemThread.start {
                    defer {
                        socket.close()
                        self.clients.subtract(1, ordering: .relaxed)
                    }
                    self.serve(socket, registry: registry, logger: logger)
                }
            }
        }
    }

    public func close() { listener.close() }

    private func serve(_ socket: Socket, registry: MetricsRegistry, logger: Logger) {
        let deadline = ContinuousClock.now + Self.headDeadline
        Self.setTimeout(socket, SO_SNDTIMEO, Self.headDeadline)
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        var head: [UInt8]?
        while head == nil {
            if let end = ScrapeRequest.headEnd(in: received) {
                head = Array(received[..<end])
                break
            }
            if received.count > ScrapeRequest.maximumHeadBytes {
                return refuse(socket, 431, "the request head is over \(ScrapeRequest.maximumHeadBytes) bytes", logger)
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return refuse(socket, 408, "the request head did not arrive within 10 s", logger) }
            Self.setTimeout(socket, SO_RCVTIMEO, left)
            let count: Int
            do {
                count = try chunk.withUnsafeMutableBytes { try socket.readSome(into: $0) }
            } catch SocketError.system(_, let code) where code == EAGAIN || code == EWOULDBLOCK {
                return refuse(socket, 408, "the request head did not arrive within 10 s", logger)
            } catch {
                return logger.debug("metrics: client went away: \(error)")
            }
            if count == 0 { return logger.debug("metrics: client closed before a whole request") }
            received += chunk[..<count]
        }
        switch ScrapeRequest.decide(head: head!) {
        case let .refused(status, reason):
            refuse(socket, status, reason, logger)
        case let .metrics(includeBody):
            let body = registry.exposition()
            respond(socket, 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body, includeBody: includeBody)
        }
    }

    private func refuse(_ socket: Socket, _ status: Int, _ reason: String, _ logger: Logger) {
        refusals.log(logger, "metrics: answered \(status) to a client: \(reason)")
        respond(socket, status, contentType: "text/plain; charset=utf-8", body: Array((reason + "\n").utf8), includeBody: true)
    }

    private func respond(_ socket: Socket, _ status: Int, contentType: String, body: [UInt8], includeBody: Bool) {
        var head = "HTTP/1.1 \(status) \(ScrapeRequest.reasonPhrase(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        if status == 405 { head += "Allow: GET, HEAD\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if includeBody { bytes += body }
        try? socket.writeAll(bytes)
        // The answer ends here; the client sees end of stream after it.
        Glibc.shutdown(socket.descriptor, Int32(SHUT_WR))
    }

    private static func setTimeout(_ socket: Socket, _ option: Int32, _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var time = timeval(tv_sec: max(0, Int(seconds)), tv_usec: max(1, Int(attoseconds / 1_000_000_000_000)))
        setsockopt(socket.descriptor, SOL_SOCKET, option, &time, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// A notice at most every 10 s (with how many were held back), every one at
/// debug: a flood of bad scrapes must not flood the log.
final class RateLimitedLog: Sendable {
    private let state = Mutex<(last: ContinuousClock.Instant?, held: Int)>((nil, 0))

    func log(_ logger: Logger, _ message: String) {
        logger.debug("\(message)")
        let now = ContinuousClock.now
        let held = state.withLock { state -> Int? in
            if let last = state.last, now - last < .seconds(10) {
                state.held += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.held
        }
        guard let held else { return }
        logger.notice("\(message)\(held > 0 ? " (and \(held) more since the last report)" : "")")
    }
}
