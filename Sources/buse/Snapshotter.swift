#if Services
    import ArgumentParser
    import Logging
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
                  buse snapshotter serve --root /var/lib/buse/snapshotter --socket /run/buse/snapshotter.sock
                  ctr images pull --snapshotter buse docker.io/library/busybox:latest
                  ctr run --rm --snapshotter buse docker.io/library/busybox:latest c1 /bin/true
                """)

        @Option(help: ArgumentHelp("The directory holding snapshots and their metadata (created if missing).", valueName: "dir"))
        var root: String

        @Option(help: ArgumentHelp("The Unix socket to serve on (a stale socket file is replaced).", valueName: "path"))
        var socket: String

        @Option(help: "The least severe log level shown.")
        var logLevel: Logger.Level = .info

        func run() async throws {
            let logger = Logging.bootstrap(level: logLevel)
            let signals = SignalWaiter()
            let server: SnapshotterServer
            do {
                server = try SnapshotterServer(root: root, socket: socket, logger: logger)
            } catch {
                throw CommandLineError("cannot open the snapshotter root \(root): \(error)")
            }
            Task {
                let number = await signals.wait()
                logger.info("signal \(number): stopping")
                server.shutdown()
            }
            logger.info("serving containerd snapshots from \(root) on \(socket)")
            try await server.serve()
        }
    }
#endif
