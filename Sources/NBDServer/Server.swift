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
public final class Server: Sendable {
    public let exports: ExportTable
    public let limits: ConnectionLimits
    private let logger: Logger
    private let pool = BufferPool()
    private let listeners = Mutex<[Listener]>([])
    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])
    private let stopping = Atomic<Bool>(false)

    public init(exports: ExportTable, limits: ConnectionLimits = ConnectionLimits(), logger: Logger) {
        self.exports = exports
        self.limits = limits
        self.logger = logger
    }

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
        for listener in bound {
            logger.notice("listening", metadata: ["address": "\(listener.address)", "port": "\(listener.boundPort)"])
            SystemThread.start { [self] in listener.acceptLoop { socket in accept(socket) } }
        }
        return bound.map(\.boundPort)
    }

    /// Serves one more client on its own reader thread.
    public func accept(_ socket: Socket) {
        var connectionLogger = logger
        connectionLogger[metadataKey: "connection"] = "\(socket.descriptor)"
        let connection = Connection(socket: socket, exports: exports, limits: limits, pool: pool, logger: connectionLogger)
        let key = ObjectIdentifier(connection)
        // Checked under the lock `shutdown` sets `stopping` with, so that a
        // connection is either refused here or in shutdown's list of
        // connections to drain and end, never served on after shutdown.
        let admitted = connections.withLock { table in
            guard !stopping.load(ordering: .acquiring) else { return false }
            table[key] = connection
            return true
        }
        guard admitted else {
            socket.close()
            return
        }
        SystemThread.start { [self] in
            connection.run()
            _ = connections.withLock { $0.removeValue(forKey: key) }
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
