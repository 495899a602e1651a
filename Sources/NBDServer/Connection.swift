import BlockDevices
public import Logging
public import NBDProtocol
public import Sockets
import Synchronization
import Threading

/// One client connection, from handshake to close.
///
/// Lifecycle: ``run()`` is called on the connection's own reader thread. It
/// negotiates (unless the connection starts in transmission, as the kernel
/// path does), then reads requests one after another. Each valid request is
/// executed in its own task, so many are in flight and replies leave in any
/// order through the ``ReplyChannel``. The reader stops reading while the
/// in-flight limits are reached. The connection ends on NBD_CMD_DISC, when
/// the client closes, on a protocol violation (logged; only this connection
/// closes), or when the server shuts down; in every case it waits for its
/// requests in flight before closing the socket.
public final class Connection: Sendable {
    struct Gate {
        var requests = 0
        var bytes = 0
        /// Set when the server is shutting down: new requests get ESHUTDOWN.
        var draining = false
        /// Set once the socket is closed. Its descriptor number may then be
        /// reused by any other socket or file of the process, so nothing may
        /// shut it down any more.
        var closed = false
    }

    let socket: Socket
    let exports: ExportTable
    /// TLS offered to or required of this client; nil on the kernel path.
    let tls: TLSSettings?
    let limits: ConnectionLimits
    let pool: BufferPool
    let logger: Logger
    let gate = ConditionLock(Gate())

    /// Whether the client may be waiting to send: at most one of its
    /// requests is unanswered, so its next one follows that reply within a
    /// round trip and a reader's poll catches it. With more unanswered (a
    /// replicated write at iodepth 16 waiting for its peer), the client is
    /// the one waiting, on threads that are busy on the other core, and a
    /// poll only yields this CPU back and forth between them: the reader
    /// blocks instead (1.5 µs per replicated write; bench/README, "Replication").
    var clientMayBeWaiting: Bool { gate.withLock { $0.requests <= 1 } }
    /// Requests refused by validation, and device calls that failed.
    let refusals = Mutex(EventSummary())
    let failures = Mutex(EventSummary())
    /// When the connection began, while it negotiates; nil once it serves
    /// (or starts in transmission, as the kernel's does).
    private let negotiatingSince: Mutex<ContinuousClock.Instant?>
    private let startingSession: NegotiatedSession?

    /// Serves a client that will negotiate.
    public init(
        socket: Socket, exports: ExportTable, tls: TLSSettings = .off, limits: ConnectionLimits, pool: BufferPool,
        logger: Logger
    ) {
        self.socket = socket
        self.exports = exports
        self.tls = tls
        self.limits = limits
        self.pool = pool
        self.logger = logger
        self.startingSession = nil
        self.negotiatingSince = Mutex(ContinuousClock.now)
    }

    /// Serves a peer that starts in transmission with `session` already
    /// settled (the kernel's end of a socketpair).
    public init(
        socket: Socket, export: Export, session: NegotiatedSession, limits: ConnectionLimits, pool: BufferPool,
        logger: Logger
    ) {
        self.socket = socket
        self.exports = ExportTable([export])
        self.tls = nil
        self.limits = limits
        self.pool = pool
        self.logger = logger
        self.startingSession = session
        self.negotiatingSince = Mutex(nil)
    }

    /// Negotiates and serves until the connection ends; blocks the calling thread.
    public func run() {
        defer {
            gate.withLock { gate in
                gate.closed = true
                socket.close()
            }
        }
        let session: NegotiatedSession
        // After STARTTLS, the same descriptor read and written through TLS.
        var served = socket
        if let startingSession {
            session = startingSession
        } else {
            do {
                guard let (negotiated, upgraded) = try negotiate() else { return }
                negotiatingSince.withLock { $0 = nil }
                session = negotiated
                served = upgraded
            } catch {
                logEnd(error, phase: "negotiation")
                return
            }
        }
        guard let export = exports.lookup(session.export.name) else {
            preconditionFailure("negotiation chose export \(session.export.name), which is not in the table")
        }
        logger.info(
            "serving export",
            metadata: [
                "export": "\(export.name)", "structured-replies": "\(session.structuredReplies)",
            ])
        let statistics = export.statistics.opened(inFlight: { [gate] in gate.withLock { $0.requests } })
        Transmission(connection: self, socket: served, export: export, session: session, statistics: statistics).run()
        export.statistics.closed(statistics)
        logHeldEvents()
    }

    /// True once, for the check that finds this connection still
    /// negotiating past `timeout`: the connection is then no longer counted
    /// as negotiating. The watcher that closes it checks every second, and
    /// a closed connection leaves the server's table only once its thread
    /// has run; under load (a flood's thousand threads ending on two cores)
    /// that took over a second, and the same handshake was counted timed
    /// out twice.
    func claimExpiredHandshake(at now: ContinuousClock.Instant, timeout: Duration) -> Bool {
        negotiatingSince.withLock { since in
            guard let started = since, now - started > timeout else { return false }
            since = nil
            return true
        }
    }

    /// Makes new requests fail with ESHUTDOWN; requests in flight finish.
    public func beginDraining() {
        gate.withLock { $0.draining = true }
        gate.broadcast()
    }

    /// Blocks until no request of this connection is in flight.
    public func waitUntilIdle() {
        gate.wait(until: { $0.requests == 0 }) { _ in }
    }

    /// Ends the connection: the reader sees end of stream and stops. Does
    /// nothing once the connection has closed its socket: ``Server`` may
    /// still hold a connection that ended while it shut down, and a reply
    /// that fails to send may report it after the last request completed.
    public func terminate() {
        gate.withLock { gate in
            if !gate.closed { socket.shutdown() }
        }
    }

    /// Logs a refused request or a failed device call: every one at debug,
    /// a rate-limited summary (see ``EventSummary``) at `level`: notice for
    /// refusals (the client's mistake), warning for device failures (the
    /// operator's concern: a disk or cluster is failing).
    func logEvent(
        _ summary: borrowing Mutex<EventSummary>, _ what: String, metadata: Logger.Metadata, summaryLevel level: Logger.Level
    ) {
        logger.debug("\(what)", metadata: metadata)
        let line = summary.withLock { $0.record(what, at: ContinuousClock.now) }
        if let line { logger.log(level: level, "\(line)", metadata: metadata) }
    }

    /// Reports the events the rate limit held back, as the connection ends.
    func logHeldEvents() {
        if let line = refusals.withLock({ $0.finish() }) { logger.notice("refused requests: \(line)") }
        if let line = failures.withLock({ $0.finish() }) { logger.warning("failed requests: \(line)") }
    }

    func logEnd(_ error: SocketError, phase: String) {
        switch error {
        case .closed: logger.debug("client closed the connection", metadata: ["phase": "\(phase)"])
        default: logger.warning("connection ended: \(error)", metadata: ["phase": "\(phase)"])
        }
    }
}
