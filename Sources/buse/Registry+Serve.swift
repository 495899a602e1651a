#if Services
    public import ArgumentParser
    import Glibc
    import Logging
    import Foundation
    import RegistryCore
    import RegistryHTTP
    public import RegistryStorage
    import ServiceMetrics
    import Sockets

    /// `buse registry serve`.
    struct RegistryServe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve the registry stored under a directory over HTTP or HTTPS.",
            discussion: """
                Listens on loopback by default, over plain HTTP and open to every client. Before \
                listening on other addresses, give it a certificate (--tls-cert, --tls-key) and \
                logins (--htpasswd: bcrypt entries as htpasswd -B makes them; users named in \
                --read-only-users pull but cannot push). Runs \
                until SIGINT or SIGTERM, then stops accepting, finishes requests in flight and \
                exits 0. Upload sessions unused past --upload-ttl are removed. With \
                --gc-interval, the server also collects garbage itself, as `buse registry gc \
                --grace` does, and logs a summary of each run.

                Examples:
                  mkdir -p /srv/registry
                  buse registry serve --root /srv/registry
                  buse registry serve --root /srv/registry --listen 127.0.0.1:5001 \\
                                      --upload-ttl 6h
                  buse registry serve --root /srv/registry --gc-interval 6h --gc-grace 1h

                The root on a buse volume, attached as /dev/nbdX by this process, ext4 made on \
                it only with --format and only if it is blank, unmounted and detached on SIGTERM \
                (root and the nbd module; --replicate-to/--state replicate it as buse connect does):
                  buse registry serve --volume 'file:/var/lib/buse/registry.img?size=100G' \\
                                      --mount /srv/registry --format

                Push and pull with skopeo (plain HTTP needs the tls-verify flags):
                  skopeo copy --dest-tls-verify=false \\
                              oci:./layout:v1 docker://127.0.0.1:5000/team/app:v1
                  skopeo inspect --tls-verify=false docker://127.0.0.1:5000/team/app:v1
                  skopeo copy --src-tls-verify=false \\
                              docker://127.0.0.1:5000/team/app:v1 oci:./copy:v1

                or with podman:
                  podman push --tls-verify=false localhost/app:v1 127.0.0.1:5000/team/app:v1
                  podman pull --tls-verify=false 127.0.0.1:5000/team/app:v1

                HTTPS with logins: alice pushes and pulls, ci only pulls:
                  htpasswd -B -c /etc/buse/registry.htpasswd alice
                  htpasswd -B /etc/buse/registry.htpasswd ci
                  buse registry serve --root /srv/registry --listen 0.0.0.0:5000 \\
                                      --tls-cert /etc/buse/registry-cert.pem \\
                                      --tls-key /etc/buse/registry-key.pem \\
                                      --htpasswd /etc/buse/registry.htpasswd \\
                                      --read-only-users ci
                  podman login registry.example:5000
                  skopeo copy --dest-creds alice:PASSWORD \\
                              oci:./layout:v1 docker://registry.example:5000/team/app:v1
                  skopeo copy --src-creds ci:PASSWORD \\
                              docker://registry.example:5000/team/app:v1 oci:./copy:v1
                (clients that do not trust the certificate's CA take it with --cert-dir DIR, a \
                directory holding it as ca.crt). Without credentials a client gets 401 with \
                WWW-Authenticate: Basic realm="buse"; a pull-only user pushing gets 403 DENIED.
                """)

        @Option(help: ArgumentHelp("The registry's directory; it must exist. (or --volume and --mount)", valueName: "dir"))
        var root: String?

        @OptionGroup(title: "The root on a buse volume")
        var volume: VolumeOptions

        @Option(
            help: ArgumentHelp("The TCP address to listen on, HOST:PORT or [IPV6]:PORT; port 0 picks a free one.", valueName: "address"))
        var listen = "127.0.0.1:5000"

        @Option(
            help: ArgumentHelp("How long an unfinished upload session is kept, such as 90m, 24h or 7d.", valueName: "duration"))
        var uploadTtl = "24h"

        @Option(
            help: ArgumentHelp(
                "Collect garbage inside the server this often, such as 30m or 6h (default: never; see buse registry gc).",
                valueName: "duration"))
        var gcInterval: String?

        @Option(
            help: ArgumentHelp(
                "With --gc-interval: keep unreferenced blobs younger than this, such as 0s, 30m or 2h.", valueName: "duration"))
        var gcGrace = "1h"

        @Flag(
            inversion: .prefixedNo,
            help:
                "A mount request without from (?mount=DIGEST) links any blob the registry holds, so a client pushing a layer another repository has skips the upload. Turn it off when repositories must not learn of each other's blobs."
        )
        var automaticMount = true

        @Option(
            help: ArgumentHelp(
                "How directory changes are made durable before a 201: each (fsync every directory that changed: for a root sharing its filesystem) or grouped (one syncfs of the whole filesystem per step, shared by concurrent pushes: a few device flushes per blob instead of dozens, for a filesystem the registry has to itself). (default: grouped with --volume, each with --root)",
                valueName: "mode"))
        var sync: SyncPolicy?

        @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (with --tls-key).", valueName: "file"))
        var tlsCert: String?

        @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
        var tlsKey: String?

        @Option(
            help: ArgumentHelp(
                "Only these users may pull and push: an htpasswd file of bcrypt entries (htpasswd -B). Read at start.",
                valueName: "file"))
        var htpasswd: String?

        @Option(
            help: ArgumentHelp(
                "With --htpasswd: users who may pull but not push, comma-separated; repeatable.", valueName: "users"))
        var readOnlyUsers: [String] = []

        @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
        var logLevel: Logger.Level = .info

        @OptionGroup(title: "Metrics")
        var metrics: MetricsFlags

        func validate() throws {
            try volume.validate(alternativeTo: root)
            guard TimeToLive.parse(uploadTtl) != nil else {
                throw ValidationError("--upload-ttl \(uploadTtl) is not a duration; write it as 90m, 24h or 7d")
            }
            if let gcInterval, TimeToLive.parse(gcInterval) == nil {
                throw ValidationError("--gc-interval \(gcInterval) is not a duration of at least 1s; write it as 90s, 30m or 6h")
            }
            guard TimeToLive.parse(gcGrace, minimum: 0) != nil else {
                throw ValidationError("--gc-grace \(gcGrace) is not a duration; write it as 0s, 30m or 2h")
            }
            if (tlsCert == nil) != (tlsKey == nil) {
                throw ValidationError("give --tls-cert and --tls-key together")
            }
            if !readOnlyUsers.isEmpty && htpasswd == nil {
                throw ValidationError("--read-only-users needs --htpasswd: without logins every client may push")
            }
        }

        func run() async throws {
            let logger = Logging.bootstrap(level: logLevel)
            let (host, port) = try address()
            // The volume, when given, is attached, formatted if asked and mounted
            // first, and unmounted and detached after the server stopped, however
            // it stopped.
            let mounted = try await MountedVolume.open(volume, label: "registry", logger: logger)
            do {
                try await serve(root: mounted?.mountPoint ?? root ?? "", host: host, port: port, logger: logger)
            } catch {
                await mounted?.close()
                throw error
            }
            await mounted?.close()
        }

        private func serve(root: String, host: String, port: Int, logger: Logger) async throws {
            var configuration = RegistryServer.Configuration(root: root, host: host, port: port)
            configuration.uploadTimeToLive = TimeToLive.parse(uploadTtl) ?? configuration.uploadTimeToLive
            configuration.collectionInterval = gcInterval.flatMap { TimeToLive.parse($0) }
            configuration.collectionGracePeriod = TimeToLive.parse(gcGrace, minimum: 0) ?? configuration.collectionGracePeriod
            configuration.automaticMount = automaticMount
            configuration.syncPolicy = sync ?? (volume.volume == nil ? .each : .grouped)
            configuration.tls = tlsCert.flatMap { cert in tlsKey.map { TLSIdentity(certificateChainPath: cert, privateKeyPath: $0) } }
            configuration.access = try accessPolicy()
            if configuration.access != nil && configuration.tls == nil && !TLSFlags.isLoopback(host) {
                logger.warning("registry: --htpasswd without --tls-cert on \(listen): passwords cross the network in clear")
            }
            let endpoint = try metrics.start(logger: logger)
            configuration.metrics = endpoint.map { RegistryMetrics($0.0.prometheus) }
            defer { endpoint?.1.close() }
            let server: RegistryServer
            do {
                server = try RegistryServer(configuration, logger: logger)
            } catch {
                throw CommandLineError("--root \(root): \(error)")
            }
            let shownHost = host.contains(":") ? "[\(host)]" : host
            let scheme = configuration.tls == nil ? "http" : "https"
            do {
                try await server.run { port in
                    print("registry: serving \(root) on \(scheme)://\(shownHost):\(port)")
                    fflush(nil)  // tests and people wait for this line
                }
            } catch {
                throw CommandLineError("registry on \(listen): \(error)")
            }
            logger.notice("registry: stopped")
        }

        /// The logins of --htpasswd and --read-only-users; nil when open to all.
        private func accessPolicy() throws -> AccessPolicy? {
            guard let htpasswd else { return nil }
            do {
                let text = try String(contentsOfFile: htpasswd, encoding: .utf8)
                let names = readOnlyUsers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
                let readOnly = Set(names.filter { !$0.isEmpty })
                return try AccessPolicy(users: try Htpasswd(parsing: text), readOnlyUsers: readOnly)
            } catch {
                throw CommandLineError("--htpasswd \(htpasswd): \(error)")
            }
        }

        /// `--listen` as host and port; a bare host gets the registry's usual port 5000.
        private func address() throws -> (String, Int) {
            let text = listen.contains(":") ? listen : listen + ":5000"
            do {
                guard case .tcp(let host, let port) = try ListenAddress(parsing: text) else { throw CommandLineError("not TCP") }
                return (host, Int(port))
            } catch {
                throw CommandLineError("--listen: \(error)")
            }
        }
    }

    /// Durations as people write them on a command line: a whole number with
    /// `s`, `m`, `h` or `d` (`0s` only where `minimum` is 0, as gc's grace).
    enum TimeToLive {
        static func parse(_ text: String, minimum: Int64 = 1) -> Duration? {
            let units: [(Character, Int64)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
            guard let last = text.last, let unit = units.first(where: { $0.0 == last }),
                let count = Int64(text.dropLast()), count >= minimum, count <= Int64.max / unit.1 / 1_000_000_000
            else { return nil }
            return .seconds(count * unit.1)
        }
    }

    extension SyncPolicy: ExpressibleByArgument {}
#endif
