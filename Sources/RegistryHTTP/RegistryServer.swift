public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import RegistryCore
public import RegistryStorage

/// `buse registry serve`: the registry on a directory, over plain HTTP or
/// HTTPS, open to all or to the users of an htpasswd file.
public struct RegistryServer: Sendable {
    public struct Configuration: Sendable {
        public var root: String
        public var host: String
        /// 0 picks a free port; the one chosen is passed to `onListening`.
        public var port: Int
        /// Upload sessions older than this are purged.
        public var uploadTimeToLive: Duration
        /// How often the server collects garbage itself; nil (the default)
        /// leaves it to `buse registry gc`.
        public var collectionInterval: Duration?
        /// The grace period of those collections (see `GarbageCollection`).
        public var collectionGracePeriod: Duration = .seconds(3600)
        /// `?mount=` without `from` links any blob the root holds (the spec's
        /// automatic mount); off, it starts an upload session instead.
        public var automaticMount = true
        /// How directory changes are made durable (see `SyncPolicy`).
        public var syncPolicy = SyncPolicy.each
        /// `--metrics`: requests, bytes and uploads counted (see `RegistryMetrics`).
        public var metrics: RegistryMetrics?
        /// HTTPS with this certificate; nil serves plain HTTP.
        public var tls: TLSIdentity?
        /// Who may pull and push; nil lets every client do everything.
        public var access: AccessPolicy?

        public init(root: String, host: String = "127.0.0.1", port: Int = 5000, uploadTimeToLive: Duration = .seconds(24 * 3600)) {
            self.root = root
            self.host = host
            self.port = port
            self.uploadTimeToLive = uploadTimeToLive
        }

        /// How often the purge runs: a tenth of the time to live, between a
        /// second and an hour, so a session outlives its time by at most 10%.
        var purgeInterval: Duration {
            min(max(uploadTimeToLive / 10, .seconds(1)), .seconds(3600))
        }
    }

    public let configuration: Configuration
    public let store: RegistryStore
    let logger: Logger
    private let lock: RootLock
    private let tlsConfiguration: TLSConfiguration?
    private let authenticator: PasswordAuthenticator?

    /// Locks the root, opens the store and removes what a crash left behind,
    /// before any request can start a write whose temp files would look the
    /// same. Fails when another server holds the root.
    public init(_ configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        tlsConfiguration = try configuration.tls?.serverConfiguration()
        authenticator = configuration.access.map { PasswordAuthenticator(policy: $0) }
        store = try RegistryStore(root: configuration.root, syncPolicy: configuration.syncPolicy)
        lock = try RootLock(root: configuration.root)
        let removed = try store.removeLeftovers()
        if removed > 0 { logger.notice("removed \(removed) leftovers of interrupted writes under \(configuration.root)") }
    }

    /// The Hummingbird application serving the registry (tests drive it
    /// in process with HummingbirdTesting).
    public func application(
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> Application<MeteredResponder<RegistryResponder>> {
        Application(
            responder: MeteredResponder(
                metrics: configuration.metrics,
                inner: RegistryResponder(
                    store: store, automaticMount: configuration.automaticMount, sendsFileRegions: tlsConfiguration == nil,
                    authenticator: authenticator, logger: logger)),
            server: serverBuilder,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// HTTP/1 with `Expect: 100-continue` answered at once; plain, blob
    /// bodies go out with `sendfile(2)` (`HTTP1FileRegionChannel`); over TLS
    /// they are encrypted from buffers, as NIOSSL must.
    private var serverBuilder: HTTPServerBuilder {
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ExpectContinueHandler()])
        guard let tlsConfiguration else {
            return HTTPServerBuilder { responder in
                HTTP1FileRegionChannel(base: HTTP1Channel(responder: responder, configuration: http1))
            }
        }
        // The TLS context is made when the server starts: a key that does not
        // match its certificate fails `run` then, before the hint line.
        return HTTPServerBuilder { responder in
            try TLSChannel(HTTP1Channel(responder: responder, configuration: http1), tlsConfiguration: tlsConfiguration)
        }
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets requests
    /// in flight finish and returns. Upload sessions past their time are
    /// purged now and periodically meanwhile; garbage is collected every
    /// `collectionInterval` when there is one.
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        let purge = UploadPurge(
            uploads: store.uploads, timeToLive: configuration.uploadTimeToLive, interval: configuration.purgeInterval,
            pool: .shared, logger: logger)
        let purging = Task { await purge.run() }
        defer { purging.cancel() }
        let collecting = configuration.collectionInterval.map { interval in
            let collection = PeriodicCollection(
                store: store, collection: GarbageCollection(gracePeriod: configuration.collectionGracePeriod), interval: interval,
                pool: .shared, logger: logger, metrics: configuration.metrics)
            return Task { await collection.run() }
        }
        defer { collecting?.cancel() }
        // Hummingbird's service group catches SIGTERM and SIGINT (its
        // defaults) and shuts the server down gracefully.
        try await application(onListening: onListening).runService()
    }
}
