import CNBDKernel
import Glibc
public import NBDProtocol
import Threading

/// A /dev/nbdX whose socket is already connected to a remote NBD server and
/// negotiated to the transmission phase (nbd-client's way): the kernel
/// talks to that server directly, so no byte passes through this process.
///
/// The ioctls are used, not netlink: on kernel 6.1 the nbd netlink family
/// cannot be resolved from a non-initial network namespace, where a second
/// host's attach often runs. So the device lives as long as this process:
/// NBD_DO_IT blocks on a thread of its own until the device is
/// disconnected (``KernelAttachment/detachDevice(_:mode:)`` with `.ioctl`,
/// from any process), or the server closes the connection.
///
/// Lifecycle: ``attach(socket:size:flags:blockSize:)`` configures a free
/// device, hands it the socket and returns once the kernel serves it
/// (sysfs shows its pid); ``waitUntilDetached()`` returns when NBD_DO_IT
/// has; the socket is closed then.
public final class NegotiatedSocketAttachment: Sendable {
    public let device: NBDDeviceNode
    private let finished = ConditionLock(false)

    private init(device: NBDDeviceNode) { self.device = device }

    /// Attaches `socket` (in transmission, with the export's `size` and
    /// `flags`) to a free /dev/nbdX.
    public static func attach(
        socket: Int32, size: UInt64, flags: TransmissionFlags, blockSize: UInt32 = 4096
    ) throws(KernelAttachError) -> NegotiatedSocketAttachment {
        guard size % UInt64(blockSize) == 0 else { throw .sizeNotMultiple(size: size, blockSize: blockSize) }
        let candidates = NBDDeviceNode.all().filter(\.isFree)
        guard !candidates.isEmpty else { throw NBDDeviceNode.all().isEmpty ? .moduleNotLoaded : .noFreeDevice }
        for device in candidates {
            let fd = open(device.path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw KernelAttachment.mapError(errno, device: device, action: "open \(device.path)") }
            let status = configure(fd, socket: socket, size: size, flags: flags, blockSize: blockSize)
            if status == -EBUSY {
                // Taken between our look and our claim: try the next one.
                close(fd)
                continue
            }
            guard status == 0 else {
                _ = buse_nbd_clear_sock(fd)
                close(fd)
                throw KernelAttachment.mapError(-status, device: device, action: "configure \(device.path)")
            }
            let attachment = NegotiatedSocketAttachment(device: device)
            attachment.serve(fd, socket: socket)
            return attachment
        }
        throw .noFreeDevice
    }

    private static func configure(_ fd: Int32, socket: Int32, size: UInt64, flags: TransmissionFlags, blockSize: UInt32) -> Int32 {
        var status = buse_nbd_set_block_size(fd, UInt(blockSize))
        if status == 0 { status = buse_nbd_set_size(fd, UInt(size)) }
        if status == 0 { status = buse_nbd_set_flags(fd, UInt(flags.rawValue)) }
        if status == 0 { status = buse_nbd_set_sock(fd, socket) }
        return status
    }

    /// Runs NBD_DO_IT on its own thread and waits until the kernel serves
    /// the device: a mount made before that would find it empty.
    private func serve(_ fd: Int32, socket: Int32) {
        let device = device
        let finished = finished
        SystemThread.start {
            _ = buse_nbd_do_it(fd)
            _ = buse_nbd_clear_queue(fd)
            _ = buse_nbd_clear_sock(fd)
            close(fd)
            close(socket)
            finished.withLock { $0 = true }
            finished.broadcast()
        }
        // The kernel writes the pid when NBD_DO_IT has started the device;
        // a short wait, bounded by NBD_DO_IT ending (a failure) instead.
        while device.kernelPid == nil {
            if finished.withLock({ $0 }) { return }
            usleep(1000)
        }
    }

    /// Whether NBD_DO_IT has returned (the device is detached).
    public var isDetached: Bool { finished.withLock { $0 } }

    /// Blocks until the device is detached.
    public func waitUntilDetached() { finished.wait(until: { $0 }, then: { _ in }) }
}
