import CRados
import Glibc
import Synchronization
import Threading

/// A connection to a Ceph cluster (`rados_t`) and the pool I/O context the
/// device uses. librados handles are thread-safe; every asynchronous call
/// may be made from any thread.
// Safety: rados_t and rados_ioctx_t are documented as safe for concurrent use.
public final class RadosCluster: @unchecked Sendable {
    /// How to reach the cluster: what `rados:` URIs and `buse image` take.
    public struct Settings: Sendable {
        public var configFile: String?
        /// The client id, without "client." (default "admin").
        public var clientID: String = "admin"
        public var keyring: String?
        /// Seconds before an OSD operation fails with ETIMEDOUT (0: wait for ever).
        public var operationTimeout: Int = 30
        /// More librados options, set after the file and the timeouts (a
        /// test sets `librados_thread_count` to 1 to order its callbacks).
        public var options: [String: String] = [:]
        public init() {}
    }

    let handle: rados_t
    /// Set by ``shutdown()``; deinit then has nothing left to do.
    private let isShutDown = Atomic<Bool>(false)

    public init(_ settings: Settings) throws(RadosError) {
        try LibRados.open()
        var cluster: rados_t?
        var status = librados.create2(&cluster, "ceph", "client.\(settings.clientID)", 0)
        guard status == 0, let cluster else { throw .call("rados_create2", -status) }
        handle = cluster
        // From here a throw still runs deinit (every property is set), which
        // shuts the handle down: shutting it down here as well freed it twice
        // and crashed the process on a missing config or an unreachable
        // cluster. Failure paths call shutdown(), which runs once.
        status = librados.conf_read_file(handle, settings.configFile)
        guard status == 0 else {
            shutdown()
            throw .call("read Ceph config \(settings.configFile ?? "(default search path, or $CEPH_CONF)")", -status)
        }
        _ = librados.conf_parse_env(handle, nil)
        if let keyring = settings.keyring { _ = librados.conf_set(handle, "keyring", keyring) }
        let timeout = String(settings.operationTimeout)
        let controlTimeout = settings.operationTimeout == 0 ? "30" : timeout
        _ = librados.conf_set(handle, "rados_osd_op_timeout", timeout)
        _ = librados.conf_set(handle, "rados_mon_op_timeout", controlTimeout)
        _ = librados.conf_set(handle, "client_mount_timeout", controlTimeout)
        for (name, value) in settings.options {
            status = librados.conf_set(handle, name, value)
            guard status == 0 else {
                shutdown()
                throw .call("set librados option \(name)=\(value)", -status)
            }
        }
        status = librados.connect(handle)
        guard status == 0 else {
            shutdown()
            throw .call("connect to the Ceph cluster", -status)
        }
    }

    /// Shuts down what no one shut down, on a thread of its own inside a
    /// librados callback (see ``RadosPool``'s deinit).
    deinit {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        nonisolated(unsafe) let handle = handle
        LibraryCallback.outside(named: "rados-shutdown") { librados.shutdown(handle) }
    }

    /// Stops librados' threads and closes the connection, once. A process
    /// that exits with them still running can crash in their teardown, so
    /// devices call this when they close rather than leave it to deinit
    /// (which never runs for objects alive at exit).
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        librados.shutdown(handle)
    }

    /// An I/O context on `pool`, in `namespace` when given.
    public func pool(_ name: String, namespace: String? = nil) throws(RadosError) -> RadosPool {
        var context: rados_ioctx_t?
        let status = librados.ioctx_create(handle, name, &context)
        guard status == 0, let context else { throw .call("open pool \(name)", -status) }
        if let namespace { librados.ioctx_set_namespace(context, namespace) }
        return RadosPool(cluster: self, context: context, name: name)
    }
}

/// A pool's I/O context; keeps its cluster alive.
// Safety: see RadosCluster.
public final class RadosPool: @unchecked Sendable {
    let cluster: RadosCluster
    let context: rados_ioctx_t
    public let name: String
    /// Pieces of asynchronous requests awaiting their callbacks (see AioGroup).
    let neighbours = AioNeighbours()

    init(cluster: RadosCluster, context: rados_ioctx_t, name: String) {
        self.cluster = cluster
        self.context = context
        self.name = name
    }

    private let isClosed = Atomic<Bool>(false)

    /// Closes what no one closed. Inside a librados callback (a request's
    /// end dropped the last reference to a device that was never closed)
    /// the close goes to a thread of its own: shutting librados down joins
    /// the callback's own thread, and waiting for the pool's other
    /// callbacks there would wait for ever behind this one.
    deinit {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let closing = Closing(cluster: cluster, context: context, neighbours: neighbours)
        LibraryCallback.outside(named: "rados-close") { closing.run() }
    }

    /// Destroys the I/O context and shuts the cluster connection down; no
    /// operation may follow.
    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Closing(cluster: cluster, context: context, neighbours: neighbours).run()
    }

    /// What closing a pool does, apart from the pool object.
    // Safety: run once, by one thread.
    private struct Closing: @unchecked Sendable {
        let cluster: RadosCluster
        let context: rados_ioctx_t
        let neighbours: AioNeighbours

        func run() {
            neighbours.waitUntilIdle()
            librados.ioctx_destroy(context)
            cluster.shutdown()
        }
    }
}
