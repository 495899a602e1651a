import ArgumentParser
import DeviceCatalog
import DeviceLayers
import Glibc
import KernelAttach
import Logging
import NBDServer
import ServiceMetrics
import Sockets
import Threading

struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach a device to a kernel /dev/nbdX and serve it.",
        discussion: """
            Attaches the device to a free /dev/nbdX (or the one given with --nbd), prints \
            the device path and serves it until `buse disconnect`, SIGINT or SIGTERM \
            (which flush and detach cleanly). Needs root and the nbd module (modprobe nbd).

            The netlink interface is used (it needs the nbd module; --ioctl uses the \
            ioctls instead), with a dead-connection \
            timeout: if this process dies (kill -9, an upgrade), the kernel holds I/O for \
            that long and `buse connect --reattach /dev/nbdX URI` picks the device up again \
            with no I/O error seen by the filesystem. The kernel only lets RECONFIGURE \
            replace sockets that died: a live attachment cannot be taken over. With --ioctl \
            (the classic NBD_SET_SOCK/NBD_DO_IT path) the device dies with the process.

            Examples:
              buse connect file:/var/lib/buse/vol1.img?size=10G
              buse connect --daemon --pid-file /run/vol1.pid --connections 4 \\
                           file:/var/lib/buse/vol1.img
            after the daemon died (kill -9, an upgrade):
              buse connect --reattach /dev/nbd0 file:/var/lib/buse/vol1.img
            """)

    @Argument(
        help: ArgumentHelp(
            "The device to attach, a device URI (README.md, \"Device URIs\"), e.g. file:/var/lib/buse/vol1.img?size=10G.",
            valueName: "device-uri"))
    var uri: String

    @Option(help: ArgumentHelp("The nbd device to use. (default: a free one)", valueName: "/dev/nbdN"))
    var nbd: String?

    @Option(help: ArgumentHelp("Pick up this device, whose daemon died, with new sockets (netlink RECONFIGURE).", valueName: "/dev/nbdN"))
    var reattach: String?

    @Flag(help: "Use the NBD_SET_SOCK/NBD_DO_IT ioctls instead of netlink (no reattach possible).")
    var ioctl = false

    @Option(help: ArgumentHelp("Sockets to give the kernel; more than 1 needs a multi-connection-safe device.", valueName: "n"))
    var connections = 1

    @Option(help: ArgumentHelp("The kernel's logical block size: 512, 1024, 2048 or 4096.", valueName: "bytes"))
    var blockSize: UInt32 = 4096

    @Option(
        help: ArgumentHelp(
            "Seconds the kernel holds I/O waiting for a reattach after this process dies; 0 fails I/O at once.", valueName: "seconds"))
    var deadConnectionTimeout: UInt64 = 120

    @Flag(help: "Attach read-only: the kernel refuses writes.")
    var readOnly = false

    @Flag(help: "Detach from the terminal once the device is ready; the device path is still printed.")
    var daemon = false

    @Option(help: ArgumentHelp("Write the serving process's pid here.", valueName: "file"))
    var pidFile: String?

    @Option(help: ArgumentHelp("With --daemon, where the daemon logs. (default: /run/buse/connect.log)", valueName: "file"))
    var logFile: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @OptionGroup(title: "Replication")
    var replication: ReplicationFlags

    @OptionGroup(title: "Metrics")
    var metrics: MetricsFlags

    @Option(help: .hidden)
    var readyFd: Int32?

    mutating func validate() throws {
        if let reattach {
            if ioctl { throw ValidationError("--reattach works through netlink only; drop --ioctl") }
            if let nbd, nbd != reattach { throw ValidationError("--reattach \(reattach) and --nbd \(nbd) name different devices") }
            _ = try NBDDeviceNode(path: reattach)
        }
        guard (1...16).contains(connections) else { throw ValidationError("--connections must be from 1 to 16") }
        if let nbd { _ = try NBDDeviceNode(path: nbd) }
    }

    func run() async throws {
        try await Daemon.run(daemon: daemon, readyFd: readyFd, logFile: logFile, serve)
    }

    private func serve(_ ready: ReadyChannel) async throws {
        let signals = SignalWaiter()
        let logger = Logging.bootstrap(level: logLevel)
        guard geteuid() == 0 else { throw CommandLineError(KernelAttachError.notRoot("buse connect").description) }
        let opened = try DeviceCatalog.open(DeviceURI(parsing: uri), readOnly: readOnly)
        let replicated = try await replication.open(opened, export: "kernel", logger: logger)
        let device = CountingDevice(replicated?.device ?? opened)
        let export = Export(name: "kernel", device: device, description: uri)
        var options = AttachOptions(uri: uri)
        options.device = try (reattach ?? nbd).map { try NBDDeviceNode(path: $0) }
        options.useIoctl = ioctl
        options.connections = connections
        options.blockSize = blockSize
        options.deadConnectionTimeout = deadConnectionTimeout
        let attachment =
            reattach != nil
            ? try KernelAttachment.reattach(export, options: options, logger: logger)
            : try KernelAttachment.attach(export, options: options, logger: logger)
        try attachment.record(readOnly: readOnly).save()
        if let pidFile { try writePidFile(pidFile) }
        let endpoint = try metrics.start(logger: logger).map { registry, endpoint in
            NBDExportMetrics.register([export], server: nil, in: registry)
            RadosMetrics.register([export], in: registry)
            if let volume = replicated?.device { ReplicationMetrics.register(status: { volume.status }, in: registry) }
            return endpoint
        }
        defer { endpoint?.close() }
        logger.notice("attached", metadata: ["device": "\(attachment.device)", "uri": "\(uri)", "mode": "\(ioctl ? "ioctl" : "netlink")"])
        print(attachment.device.path)
        fflush(nil)
        ready.succeed(attachment.device.path)
        await waitForDetachOrSignal(attachment, signals, logger)
        replicated?.stop()
        do {
            try await export.device.close()
        } catch {
            logger.error("closing the device failed: \(error.message)")
        }
        AttachmentRecord.remove(attachment.device)
        if let pidFile { unlink(pidFile) }
        // Scenarios read this line to prove the kernel sent what it should (flushes).
        logger.notice("detached; served \(device.summary)", metadata: ["device": "\(attachment.device)"])
    }

    /// Serves until the kernel detaches; a signal asks the kernel to detach first.
    private func waitForDetachOrSignal(_ attachment: KernelAttachment, _ signals: SignalWaiter, _ logger: Logger) async {
        let detached = Task {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                SystemThread.start {
                    attachment.waitUntilDetached()
                    done.resume()
                }
            }
        }
        let signals = Task {
            let number = await signals.wait()
            logger.notice("received signal \(number): flushing and detaching")
            do {
                try attachment.detach()
            } catch {
                logger.error("detach failed: \(error)")
            }
        }
        await detached.value
        signals.cancel()
    }

    private func writePidFile(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CommandLineError("cannot write pid file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = "\(getpid())\n"
        _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
    }
}
