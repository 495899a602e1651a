import CNBDKernel
import Glibc
import Logging
import NBDServer
import Threading

extension KernelAttachment {
    /// The ioctl path (BUSE's and nbd-client's classic way): configure the
    /// device, hand it the sockets, and block in NBD_DO_IT on a thread of its
    /// own until the device is disconnected. No reattach is possible here:
    /// when the process dies, the device goes with it.
    static func attachWithIoctls(_ export: Export, options: AttachOptions, logger: Logger) throws(KernelAttachError) -> KernelAttachment {
        let candidates = options.device.map { [$0] } ?? NBDDeviceNode.all().filter(\.isFree)
        guard !candidates.isEmpty else {
            throw NBDDeviceNode.all().isEmpty ? .moduleNotLoaded : .noFreeDevice
        }
        var lastError: KernelAttachError = .noFreeDevice
        for device in candidates {
            do {
                return try attachWithIoctls(export, to: device, options: options, logger: logger)
            } catch {
                lastError = error
                // A device taken between our look and our claim: try the next.
                if case .deviceBusy = error, options.device == nil { continue }
                throw error
            }
        }
        throw lastError
    }

    private static func attachWithIoctls(
        _ export: Export, to device: NBDDeviceNode, options: AttachOptions, logger: Logger
    ) throws(KernelAttachError) -> KernelAttachment {
        // A device attached through netlink answers the ioctls with EINVAL,
        // not EBUSY: look first, so the operator hears who holds it.
        guard device.isFree else { throw .deviceBusy(device.path, holder: holderDescription(device)) }
        let fd = open(device.path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw errno == ENOENT ? .moduleNotLoaded : mapError(errno, device: device, action: "open \(device.path)")
        }
        let pairs: SocketPairs
        do {
            pairs = try SocketPairs(count: options.connections)
            try configure(fd, export, options, pairs.kernelEnds, device)
        } catch {
            close(fd)
            throw error
        }
        pairs.closeKernelEnds()
        let attachment = KernelAttachment(device: device, export: export, options: options, logger: logger)
        attachment.serveSockets(pairs.serverEnds)
        SystemThread.start {
            let status = buse_nbd_do_it(fd)
            if status != 0 && status != -EPIPE {
                logger.warning("NBD_DO_IT on \(device) ended: \(String(cString: strerror(-status)))")
            }
            _ = buse_nbd_clear_queue(fd)
            _ = buse_nbd_clear_sock(fd)
            close(fd)
        }
        return attachment
    }

    private static func configure(
        _ fd: Int32, _ export: Export, _ options: AttachOptions, _ sockets: [Int32], _ device: NBDDeviceNode
    ) throws(KernelAttachError) {
        func check(_ status: Int32, _ call: String) throws(KernelAttachError) {
            guard status == 0 else { throw mapError(-status, device: device, action: call) }
        }
        try check(buse_nbd_set_block_size(fd, UInt(options.blockSize)), "NBD_SET_BLKSIZE")
        try check(buse_nbd_set_size(fd, UInt(export.description.size)), "NBD_SET_SIZE")
        try check(buse_nbd_set_flags(fd, UInt(kernelFlags(export).rawValue)), "NBD_SET_FLAGS")
        for socket in sockets {
            try check(buse_nbd_set_sock(fd, socket), "NBD_SET_SOCK")
        }
    }
}
