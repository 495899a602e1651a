#if Services
    import ArgumentParser
    import Logging
    import ServiceMetrics
    import SnapshotterGRPC

    /// `buse snapshotter`: the layer store's containerd snapshotter.
    struct Snapshotter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A containerd snapshotter, loaded by containerd as a proxy plugin.",
            subcommands: [SnapshotterServe.self])
    }

    struct SnapshotterServe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve containerd's snapshot service (containerd.services.snapshots.v1.Snapshots) on a Unix socket.",
            discussion: """
                Snapshots are overlayfs directories under ROOT/snapshots, named by number; \
                their metadata (the tree, kinds, labels, timestamps, usage) is in LMDB under \
                ROOT/metadata, every change one transaction. Start the snapshotter before \
                containerd (containerd dials it with backoff). It runs until SIGINT or SIGTERM.

                containerd 1.6 configuration (/etc/containerd/config.toml):
                  [proxy_plugins.buse]
                    type = "snapshot"
                    address = "/run/buse/snapshotter.sock"

                Then:
                  buse snapshotter serve --root /var/lib/buse/snapshotter \\
                                         --socket /run/buse/snapshotter.sock
                  ctr images pull --snapshotter buse docker.io/library/busybox:latest
                  ctr run --rm --snapshotter buse docker.io/library/busybox:latest c1 /bin/true

                With --seal, every layer containerd commits is sealed for other hosts \
                (see buse layers seal --help and buse layers attach --help).

                The root on a buse volume, attached as /dev/nbdX by this process, ext4 made on \
                it only with --format and only if it is blank, unmounted and detached on SIGTERM \
                (root and the nbd module; --replicate-to/--state replicate it as buse connect does):
                  buse snapshotter serve --volume 'file:/var/lib/buse/layers.img?size=100G' \\
                                         --mount /var/lib/buse/snapshotter --format \\
                                         --socket /run/buse/snapshotter.sock
                """)

        @Option(
            help: ArgumentHelp(
                "The directory holding snapshots and their metadata (created if missing). (or --volume and --mount)",
                valueName: "dir"))
        var root: String?

        @OptionGroup(title: "The root on a buse volume")
        var volume: VolumeOptions

        @Option(
            help: ArgumentHelp(
                "The Unix socket to serve on (its missing directories are made; a stale socket file is replaced).",
                valueName: "path"))
        var socket: String

        @Flag(
            help: ArgumentHelp(
                "Seal each layer containerd commits into an EROFS image other hosts attach (buse layers seal), just after its Commit."
            ))
        var seal = false

        @Option(help: "The least severe log level shown.")
        var logLevel: Logger.Level = .info

        @OptionGroup(title: "Metrics")
        var metrics: MetricsFlags

        func validate() throws {
            try volume.validate(alternativeTo: root)
        }

        func run() async throws {
            let logger = Logging.bootstrap(level: logLevel)
            // As `buse registry serve --volume`: attached, formatted if asked
            // and mounted first; unmounted and detached however serving ends.
            let mounted = try await MountedVolume.open(volume, label: "snapshotter", logger: logger)
            do {
                try await serve(root: mounted?.mountPoint ?? root ?? "", logger: logger)
            } catch {
                await mounted?.close()
                throw error
            }
            await mounted?.close()
        }

        private func serve(root: String, logger: Logger) async throws {
            let signals = SignalWaiter()
            let server: SnapshotterServer
            let endpoint = try metrics.start(logger: logger)
            defer { endpoint?.1.close() }
            do {
                server = try SnapshotterServer(
                    root: root, socket: socket, logger: logger,
                    interceptors: endpoint.map { [SnapshotterMetrics($0.0.prometheus)] } ?? [])
            } catch let error as SocketPathError {
                throw CommandLineError(error.description)
            } catch {
                throw CommandLineError("cannot open the snapshotter root \(root): \(error)")
            }
            Task {
                let number = await signals.wait()
                logger.info("signal \(number): stopping")
                server.shutdown()
            }
            if seal { try CommitSealer.start(root: root, logger: logger) }
            // Said once the socket listens, so the line means containerd can dial it.
            Task { [socket] in
                if (try? await server.listeningAddress()) != nil {
                    logger.info("serving containerd snapshots from \(root) on \(socket)")
                }
            }
            do {
                try await server.serve()
            } catch {
                throw CommandLineError("cannot serve on \(socket): \(error)")
            }
        }
    }
#endif
