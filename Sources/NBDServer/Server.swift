import Glibc
public import Logging
public import Sockets
import Synchronization
import Threading

/// An NBD server: exports, listeners and the connections they accept.
///
/// Lifecycle: ``start(listening:)`` binds every address (failing before
/// serving anything if one cannot be bound) and accepts on a thread per
/// listener. ``shutdown()`` stops accepting, makes new requests fail with
/// ESHUTDOWN, waits for requests in flight, flushes every export's device,
/// then closes the connections and the devices.
///
/// Admission (``AdmissionLimits``): past `connectionsMaximum`, a new
/// connection is closed at once; a connection still negotiating after
/// `handshakeTimeout` is closed by the handshake watchdog, one thread for
/// the whole server that wakes once a second.
public final class Server: Sendable {
    public let exports: ExportTable
    public let limits: ConnectionLimits
    public let admission: AdmissionLimits
    public let tls: TLSSettings
    private let logger: Logger
    private let pool = BufferPool()
    private let listeners = Mutex<[Listener]>([])
    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])
    private let stopping = Atomic<Bool>(false)
    /// Connections refused for being over the maximum, and handshakes closed
    /// for taking too long: counted, and logged at most once per interval.
    private let refusedConnections = Mutex(EventSummary())
    private let closedHandshakes = Mutex(EventSummary())

    public init(
        exports: ExportTable, limits: ConnectionLimits = ConnectionLimits(), admission: AdmissionLimits = AdmissionLimits(),
        tls: TLSSettings = .off, logger: Logger
    ) {
        self.exports = exports
        self.limits = limits
        self.admission = admission
        self.tls = tls
        self.logger = logger
    }

    /// Connections refused so far for being over the maximum.
    public var connectionsRefused: UInt64 { refusedConnections.withLock { $0.total } }
    /// Handshakes closed so far for not finishing in time.
    public var handshakesTimedOut: UInt64 { closedHandshakes.withLock { $0.total } }

    /// Binds and starts accepting. Returns the bound TCP ports, in order
    /// (0 for Unix sockets), so callers that asked for port 0 learn theirs.
    @discardableResult
    public func start(listening addresses: [ListenAddress]) throws(ListenError) -> [UInt16] {
        var bound: [Listener] = []
        for address in addresses {
            do {
                bound.append(try Listener(address))
            } catch {
                for listener in bound { listener.close() }
                throw error
            }
        }
        listeners.withLock { $0 = bound }
        SystemThread.start { [self] in watchHandshakes() }
        for listener in bound {
            logger.notice("listening", metadata: ["address": "\(listener.address)", "port": "\(listener.boundPort)"])
            SystemThread.start(named: "nbd-accept") { [self] in listener.acceptLoop { socket in accept(socket) } }
        }
        return bound.map(\.boundPort)
    }

    /// Serves one more client on its own reader thread.
    public func accept(_ socket: Socket) {
        var connectionLogger = logger
        connectionLogger[metadataKey: "connection"] = "\(socket.descriptor)"
        let connection = Connection(
            socket: socket, exports: exports, tls: tls, limits: limits, pool: pool, logger: connectionLogger)
        let key = ObjectIdentifier(connection)
        // Checked under the lock `shutdown` sets `stopping` with, so that a
        // connection is either refused here or in shutdown's list of
        // connections to drain and end, never served on after shutdown.
        let admitted = connections.withLock { table -> Bool? in
            guard !stopping.load(ordering: .acquiring) else { return false }
            guard table.count < admission.connectionsMaximum else { return nil }
            table[key] = connection
            return true
        }
        guard admitted == true else {
            socket.close()
            if admitted == nil {
                let line = refusedConnections.withLock {
                    $0.record("the server holds its maximum of \(admission.connectionsMaximum)", at: ContinuousClock.now)
                }
                if let line { logger.warning("refused a connection: \(line)") }
            }
            return
        }
        SystemThread.start(named: "nbd-connection") { [self] in
            connection.run()
            _ = connections.withLock { $0.removeValue(forKey: key) }
        }
    }

    /// Closes connections still negotiating past the handshake timeout,
    /// checking once a second until the server stops.
    private func watchHandshakes() {
        while !stopping.load(ordering: .acquiring) {
            var pause = timespec(tv_sec: 1, tv_nsec: 0)
            nanosleep(&pause, nil)
            let now = ContinuousClock.now
            let late = connections.withLock { table in
                table.values.filter { $0.claimExpiredHandshake(at: now, timeout: admission.handshakeTimeout) }
            }
            for connection in late {
                // Counted before the close, so a client that sees it close
                // also sees it counted.
                let line = closedHandshakes.withLock {
                    $0.record("not negotiated within \(admission.handshakeTimeout)", at: now)
                }
                connection.terminate()
                if let line { logger.notice("closed a handshake: \(line)") }
            }
        }
    }

    /// Graceful shutdown; see the type's lifecycle. Idempotent.
    public func shutdown() async {
        let first = connections.withLock { _ in !stopping.exchange(true, ordering: .acquiringAndReleasing) }
        guard first else { return }
        for listener in listeners.withLock({ $0 }) { listener.close() }
        let active = connections.withLock { Array($0.values) }
        logger.notice("shutting down", metadata: ["connections": "\(active.count)"])
        for connection in active { connection.beginDraining() }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            SystemThread.start {
                for connection in active { connection.waitUntilIdle() }
                done.resume()
            }
        }
        for export in exports.ordered {
            do {
                try await export.device.close()
            } catch {
                logger.error("closing export \(export.name) failed: \(error.message)")
            }
        }
        for connection in active { connection.terminate() }
        logger.notice("shut down")
    }
}
