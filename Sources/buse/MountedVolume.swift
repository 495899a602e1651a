import BlockDevices
import DeviceCatalog
import DeviceLayers
import Filesystems
import Glibc
import KernelAttach
import Logging
import NBDServer
import Threading

/// A buse volume attached to the kernel as /dev/nbdX by this process,
/// formatted when asked (only if blank), and mounted: the root of a service
/// whose data must be as durable as the volume. Every fsync in the
/// filesystem reaches the device as an NBD FLUSH (counted in the log line
/// at close), so with synchronous replication a service's durable write is
/// on both hosts.
///
/// Lifecycle: ``open(_:label:logger:)`` attaches, formats, mounts;
/// ``close()`` unmounts (the filesystem's last writes and flush reach the
/// device), detaches, waits for the kernel to let go, and closes the device.
final class MountedVolume: Sendable {
    let mountPoint: String
    private let attachment: KernelAttachment
    private let device: CountingDevice
    private let replicated: ReplicatedVolume?
    private let logger: Logger

    private init(
        mountPoint: String, attachment: KernelAttachment, device: CountingDevice, replicated: ReplicatedVolume?, logger: Logger
    ) {
        self.mountPoint = mountPoint
        self.attachment = attachment
        self.device = device
        self.replicated = replicated
        self.logger = logger
    }

    /// Attaches, formats (with `--format`, only a blank device) and mounts
    /// the volume `options` names; nil when they name none.
    static func open(_ options: VolumeOptions, label: String, logger: Logger) async throws -> MountedVolume? {
        guard let uri = options.volume, let mountPoint = options.mount else { return nil }
        guard geteuid() == 0 else { throw CommandLineError(KernelAttachError.notRoot("--volume").description) }
        let state = try MountPointState.inspect(mountPoint, uri: uri)
        let opened = try DeviceCatalog.open(DeviceURI(parsing: uri))
        let replicated = try await options.replication.open(opened, export: label, logger: logger)
        let device = CountingDevice(replicated?.device ?? opened)
        var attachOptions = AttachOptions(uri: uri)
        attachOptions.useIoctl = options.ioctl
        let attachment: KernelAttachment
        do {
            let export = Export(name: label, device: device, description: uri)
            if case let .orphaned(orphan) = state {
                attachOptions.device = orphan
                attachOptions.useIoctl = false
                attachment = try KernelAttachment.reattach(export, options: attachOptions, logger: logger)
            } else {
                attachment = try KernelAttachment.attach(export, options: attachOptions, logger: logger)
            }
        } catch {
            replicated?.stop()
            try? await device.close()
            throw CommandLineError("cannot attach \(uri): \(error)")
        }
        let volume = MountedVolume(
            mountPoint: mountPoint, attachment: attachment, device: device, replicated: replicated, logger: logger)
        // As `buse connect` keeps one: `buse list` shows the volume and who
        // serves it, and a restart after this process dies can tell that
        // nobody does (the kernel's pid for a device is the attaching
        // thread's, which may end while the process goes on).
        do {
            try attachment.record().save()
        } catch {
            logger.warning("cannot record the attachment for buse list: \(error)")
        }
        if state != .free {
            // Its filesystem is mounted still, with the writes the kernel
            // held for a server: they reach the device now.
            let formatNote = options.format ? " (--format does not apply)" : ""
            logger.notice(
                "volume reattached: its previous server died and left it mounted; the mount is kept\(formatNote)",
                metadata: ["device": "\(attachment.device)", "uri": "\(uri)", "mount": "\(mountPoint)"])
            return volume
        }
        do {
            if options.format { try BlockFilesystem.makeExt4(attachment.device.path, label: label) }
            try BlockFilesystem.mount(attachment.device.path, at: mountPoint)
        } catch {
            await volume.detach()
            throw CommandLineError("volume \(uri) on \(attachment.device.path): \(error)")
        }
        logger.notice("volume mounted", metadata: ["device": "\(attachment.device)", "uri": "\(uri)", "mount": "\(mountPoint)"])
        return volume
    }

    /// Unmounts, then detaches and closes the device.
    func close() async {
        // A file the service had open may be closed a moment after it
        // stopped (a blob still being sent by sendfile is closed by the
        // event loop once that write ends), and until then the mount is
        // busy. So EBUSY is tried again, every 100 ms for up to 10 s,
        // before detaching without unmounting.
        do {
            try await BlockFilesystem.unmount(mountPoint, attempts: 100) {
                logger.notice("\(mountPoint) is still in use; trying to unmount again")
            }
        } catch {
            logger.error("\(error); detaching anyway (the kernel flushes what it holds)")
        }
        await detach()
    }

    private func detach() async {
        do {
            try attachment.detach()
        } catch {
            logger.error("detach failed: \(error)")
        }
        let attachment = attachment
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            SystemThread.start {
                attachment.waitUntilDetached()
                done.resume()
            }
        }
        AttachmentRecord.remove(attachment.device)
        replicated?.stop()
        do {
            try await device.close()
        } catch {
            logger.error("closing the volume's device failed: \(error.message)")
        }
        // Tests read this line to prove the filesystem's syncs reached the volume.
        logger.notice("volume detached; served \(device.summary)", metadata: ["device": "\(attachment.device)"])
    }
}
