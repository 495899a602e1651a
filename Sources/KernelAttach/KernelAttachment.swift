import CNBDKernel
import Glibc
public import Logging
import NBDProtocol
public import NBDServer
import Sockets
import Synchronization

/// A device served to the Linux kernel's nbd driver, BUSE's original design:
/// socketpairs whose one end goes to the kernel and whose other end is served
/// by the engine, starting directly in the transmission phase (the kernel
/// never negotiates, and takes simple replies only).
///
/// Lifecycle: ``attach(_:options:logger:)`` (netlink CONNECT, or the ioctls
/// with NBD_DO_IT on its own thread) or ``reattach(_:options:logger:)``
/// (netlink RECONFIGURE after a daemon died); then ``waitUntilDetached()``
/// returns once the kernel has disconnected every socket (after
/// `buse disconnect`, or ``detach()`` on SIGTERM).
public final class KernelAttachment: Sendable {
    public let device: NBDDeviceNode
    public let export: Export
    public let options: AttachOptions
    private let logger: Logger
    private let live = LiveConnections()

    init(device: NBDDeviceNode, export: Export, options: AttachOptions, logger: Logger) {
        self.device = device
        self.export = export
        self.options = options
        self.logger = logger
    }

    /// The flags the kernel is given: those the export advertises.
    static func kernelFlags(_ export: Export) -> TransmissionFlags { export.description.flags }

    public static func attach(_ export: Export, options: AttachOptions, logger: Logger) throws(KernelAttachError) -> KernelAttachment {
        try validate(export, options)
        if options.useIoctl {
            return try attachWithIoctls(export, options: options, logger: logger)
        }
        let netlink = try NBDNetlink()
        let pairs = try SocketPairs(count: options.connections)
        var configuration = configuration(export, options, pairs.kernelEnds)
        configuration.index = options.device?.index
        switch netlink.connect(configuration) {
        case let .success(index):
            pairs.closeKernelEnds()
            let attachment = KernelAttachment(device: NBDDeviceNode(index: index), export: export, options: options, logger: logger)
            attachment.serveSockets(pairs.serverEnds)
            return attachment
        case let .failure(error):
            pairs.closeAll()
            throw mapError(error.code, device: options.device, action: "netlink CONNECT")
        }
    }

    /// Gives a device whose daemon died new sockets served by this process.
    public static func reattach(_ export: Export, options: AttachOptions, logger: Logger) throws(KernelAttachError) -> KernelAttachment {
        guard let device = options.device else { preconditionFailure("reattach needs a device") }
        try validate(export, options)
        let netlink = try NBDNetlink()
        let pairs = try SocketPairs(count: options.connections)
        var configuration = configuration(export, options, pairs.kernelEnds)
        configuration.index = device.index
        let code = netlink.reconfigure(configuration)
        guard code == 0 else {
            pairs.closeAll()
            if code == EINVAL, let backend = device.backend, backend != configuration.identifier {
                throw .system(
                    "RECONFIGURE \(device): attached as \"\(backend)\", not \"\(configuration.identifier)\"; reattach with the same device URI",
                    code)
            }
            throw mapError(code, device: device, action: "netlink RECONFIGURE")
        }
        pairs.closeKernelEnds()
        let attachment = KernelAttachment(device: device, export: export, options: options, logger: logger)
        attachment.serveSockets(pairs.serverEnds)
        return attachment
    }

    private static func validate(_ export: Export, _ options: AttachOptions) throws(KernelAttachError) {
        let blockSize = options.blockSize
        guard blockSize >= 512, blockSize <= 4096, blockSize & (blockSize - 1) == 0 else {
            throw .system("--block-size \(blockSize): must be a power of two from 512 to 4096", EINVAL)
        }
        guard export.description.size % UInt64(blockSize) == 0 else {
            throw .sizeNotMultiple(size: export.description.size, blockSize: blockSize)
        }
        if options.connections > 1 && !export.description.flags.contains(.canMultiConn) {
            throw .system("--connections \(options.connections): this device is not safe for several connections", EINVAL)
        }
    }

    private static func configuration(_ export: Export, _ options: AttachOptions, _ sockets: [Int32]) -> NBDNetlink.Configuration {
        NBDNetlink.Configuration(
            index: nil, size: export.description.size, blockSize: UInt64(options.blockSize),
            flags: UInt64(kernelFlags(export).rawValue), deadConnectionTimeout: options.deadConnectionTimeout,
            identifier: AttachmentRecord.identifier(uri: options.uri), sockets: sockets)
    }

    static func mapError(_ code: Int32, device: NBDDeviceNode?, action: String) -> KernelAttachError {
        switch code {
        case EPERM, EACCES: return .notRoot("attaching an nbd device")
        case EBUSY: return .deviceBusy(device?.path ?? "the nbd device", holder: holderDescription(device))
        case ENOENT, ENODEV: return device == nil ? .moduleNotLoaded : .notAttached(device!.path)
        default: return .system(action, code)
        }
    }

    /// Who holds a device, in words, for "busy" errors.
    static func holderDescription(_ device: NBDDeviceNode?) -> String {
        guard let device else { return "another process" }
        if let record = AttachmentRecord.load(device), record.daemonIsAlive {
            return "buse pid \(record.pid) serving \(record.uri)"
        }
        if let pid = device.kernelPid { return "pid \(pid)" + (device.backend.map { " (\($0))" } ?? "") }
        return "another process"
    }

    /// Starts serving each socket; the attachment is live while any is.
    func serveSockets(_ sockets: [Int32]) {
        let session = NegotiatedSession(export: export.description, structuredReplies: false, baseAllocation: false)
        let pool = BufferPool()
        live.add(sockets.count)
        for (number, descriptor) in sockets.enumerated() {
            var connectionLogger = logger
            connectionLogger[metadataKey: "nbd"] = "\(device.path)#\(number)"
            let connection = Connection(
                socket: Socket(descriptor: descriptor), export: export, session: session, limits: ConnectionLimits(),
                pool: pool, logger: connectionLogger)
            connection.start { [live] in live.remove(1) }
        }
    }

    /// Blocks until the kernel has let go of every socket.
    public func waitUntilDetached() { live.waitForZero() }

    /// Asks the kernel to disconnect: it flushes its queue, sends NBD_CMD_DISC
    /// on every socket, and ``waitUntilDetached()`` returns.
    public func detach() throws(KernelAttachError) {
        try Self.detachDevice(device, mode: options.useIoctl ? .ioctl : .netlink)
    }

    /// Detaches a device attached by another buse process (`buse disconnect`).
    public static func detachDevice(_ device: NBDDeviceNode, mode: AttachmentRecord.Mode) throws(KernelAttachError) {
        switch mode {
        case .netlink:
            let code = try NBDNetlink().disconnect(index: device.index)
            guard code == 0 else { throw mapError(code, device: device, action: "netlink DISCONNECT") }
        case .ioctl:
            let fd = open(device.path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw mapError(errno, device: device, action: "open \(device.path)") }
            defer { close(fd) }
            let status = buse_nbd_disconnect(fd)
            guard status == 0 else { throw mapError(-status, device: device, action: "NBD_DISCONNECT") }
        }
    }
}
