import ArgumentParser
import Glibc
import KernelAttach
import Logging
import SealedLayers
import Sockets
import Threading

struct LayersAttach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a chain of sealed layers from a buse server and stack them with overlayfs at a directory.",
        discussion: """
            On a second host: each layer of the chain is attached read-only to a kernel \
            /dev/nbdX straight to the server (the kernel reads only the blocks the \
            filesystem needs), mounted as EROFS, and the layers are stacked with overlayfs \
            at --mount, writable through an upper directory on a tmpfs (or --upper DIR). \
            The chain is learnt from the server: each sealed layer's export description \
            names its parent ("buse sealed layer, erofs, parent=sha256:..."). The server \
            runs `buse serve --sealed-layers ROOT`.

            This process holds the devices (the kernel's ioctls, which work in a network \
            namespace too) until `buse layers detach DIR`, SIGINT or SIGTERM, which unmount \
            and detach. Needs root and the nbd module (modprobe nbd).

            Examples:
              modprobe -a nbd erofs overlay
              buse layers attach sha256:TOP --from 10.0.0.1:10809 --mount /run/rootfs \\
                                 --daemon
              runc run --bundle BUNDLE c1      # BUNDLE/config.json: root.path /run/rootfs
              buse layers detach /run/rootfs
            sha256:TOP is the image's top layer's chain ID (buse layers list on the server).
            """)

    @Argument(help: ArgumentHelp("The top layer's chain ID (sha256:HEX).", valueName: "chain-id"))
    var chainID: String

    @Option(help: ArgumentHelp("The buse server exporting the sealed layers.", valueName: "host:port"))
    var from: String

    @Option(help: ArgumentHelp("Where to mount the stacked layers (created if missing).", valueName: "dir"))
    var mount: String

    @Option(help: ArgumentHelp("A directory for the overlay's upper and work directories. (default: a tmpfs)", valueName: "dir"))
    var upper: String?

    @Flag(help: "Detach from the terminal once the layers are mounted; the mount point is still printed.")
    var daemon = false

    @Option(help: ArgumentHelp("With --daemon, where the daemon logs. (default: /run/buse/layers.log)", valueName: "file"))
    var logFile: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @Option(help: .hidden)
    var readyFd: Int32?

    func validate() throws {
        guard ChainID(chainID) != nil else { throw ValidationError("\(chainID) is not a chain ID (sha256: and 64 hex digits)") }
        guard case .tcp = try? ListenAddress(parsing: from) else { throw ValidationError("--from \(from) must be HOST:PORT") }
    }

    func run() async throws {
        try await Daemon.run(daemon: daemon, readyFd: readyFd, logFile: logFile ?? "/run/buse/layers.log", attachAndServe)
    }

    private func attachAndServe(_ ready: ReadyChannel) async throws {
        let signals = SignalWaiter()
        let logger = Logging.bootstrap(level: logLevel)
        guard geteuid() == 0 else { throw CommandLineError(KernelAttachError.notRoot("buse layers attach").description) }
        guard case let .tcp(host, port) = try ListenAddress(parsing: from) else { preconditionFailure("validated") }
        let target = try Self.resolvedDirectory(mount, creating: true)
        let stack: LayerStack
        do {
            stack = try await onOwnThread {
                try LayerStack.attach(top: ChainID(chainID)!, host: host, port: port, target: target, upper: upper)
            }
        } catch {
            throw CommandLineError("cannot attach \(chainID) from \(from): \(error)")
        }
        logger.notice(
            "layers attached",
            metadata: ["chain": "\(chainID)", "devices": "\(stack.record.devices.joined(separator: ","))", "mount": "\(target)"])
        print(target)
        fflush(nil)
        ready.succeed(target)
        let detached = Task {
            await onOwnThread { for attachment in stack.attachments { attachment.waitUntilDetached() } }
        }
        let signalled = Task {
            let number = await signals.wait()
            logger.notice("received signal \(number): unmounting and detaching")
            do {
                try await onOwnThread { try LayerStack.tearDown(stack.record) }
            } catch {
                logger.error("detach failed: \(error)")
            }
        }
        await detached.value
        signalled.cancel()
        logger.notice("layers detached", metadata: ["mount": "\(target)"])
    }

    /// The absolute path of `path` with links resolved, for a record that
    /// `buse layers detach` finds by the same path however it is spelled.
    static func resolvedDirectory(_ path: String, creating: Bool) throws -> String {
        if creating && mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw CommandLineError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        guard let resolved = realpath(path, nil) else { throw CommandLineError("\(path): \(String(cString: strerror(errno)))") }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

struct LayersDetach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Unmount and detach the sealed layers `buse layers attach` stacked at a directory.",
        discussion: """
            Unmounts the overlay (refused while busy: stop the container first), the \
            scratch tmpfs and each layer, disconnects their /dev/nbdX, and waits for the \
            attaching process to end.

            Example:
              buse layers detach /run/rootfs
            """)

    @Argument(help: ArgumentHelp("The directory given to attach --mount.", valueName: "dir"))
    var mount: String

    func run() async throws {
        let target = try LayersAttach.resolvedDirectory(mount, creating: false)
        guard let record = try? LayerStackRecord.load(target: target) else {
            throw CommandLineError("no sealed layers are attached at \(target)")
        }
        do { try await onOwnThread { try LayerStack.tearDown(record) } } catch {
            throw CommandLineError("cannot detach \(target): \(error)")
        }
        // The attaching process ends once its devices are detached; a bound
        // so that a stuck process is reported rather than waited on forever.
        let deadline = ContinuousClock.now + .seconds(120)
        while record.processIsAlive && record.pid != getpid() {
            guard ContinuousClock.now < deadline else {
                throw CommandLineError("detached \(target), but pid \(record.pid) (the attach) is still running")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        print("detached \(target)")
    }
}

/// Runs blocking work (ioctls, mounts, a handshake with a remote server) on
/// a thread of its own, off Swift's cooperative pool.
private func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await SystemThread.run(body)
}

private func onOwnThread(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        SystemThread.start {
            body()
            continuation.resume()
        }
    }
}
