import Glibc
public import KernelAttach
import NBDProtocol

/// A chain of sealed layers attached from a remote server and stacked as
/// one writable tree: each layer's export on a kernel /dev/nbdX (the
/// kernel reads from the server only the blocks the filesystem asks for),
/// each mounted read-only as EROFS, all stacked with overlayfs at the
/// target, top layer first, with upper and work directories on a scratch
/// tmpfs (or a given directory).
///
/// Lifecycle: ``attach(top:host:port:target:upper:)`` resolves the chain,
/// attaches, mounts and records what it did (``LayerStackRecord``);
/// ``tearDown(_:)`` (from `buse layers detach`, or the attaching process
/// on SIGTERM) unmounts the overlay, the scratch tmpfs and the layers, and
/// disconnects the devices, which ends the attaching process's NBD_DO_IT
/// threads. A failure part-way undoes what was done.
public struct LayerStack: Sendable {
    public let record: LayerStackRecord
    public let attachments: [NegotiatedSocketAttachment]

    public static func attach(
        top: ChainID, host: String, port: UInt16, target: String, upper: String?
    ) throws(SealedLayerError) -> LayerStack {
        if let existing = try LayerStackRecord.load(target: target) {
            guard !existing.processIsAlive else {
                throw .refused("\(target) already has layers attached by pid \(existing.pid); run buse layers detach \(target) first")
            }
            // Left by an attach that died: its devices went with it, but
            // its mounts may not have.
            try tearDown(existing)
        }
        let exports = try RemoteChain.open(top: top, host: host, port: port)
        var record = LayerStackRecord(target: target, pid: getpid())
        var attachments: [NegotiatedSocketAttachment] = []
        do throws(SealedLayerError) {
            for (index, export) in exports.enumerated() {
                let attachment: NegotiatedSocketAttachment
                do {
                    attachment = try NegotiatedSocketAttachment.attach(
                        socket: export.socket, size: export.size, flags: export.flags.union([.hasFlags, .readOnly]))
                } catch {
                    for unused in exports[index...] { close(unused.socket) }
                    throw SealedLayerError.refused("cannot attach layer \(export.name): \(error)")
                }
                attachments.append(attachment)
                record.devices.append(attachment.device.path)
            }
            try record.save()
            try mountLayers(&record, upper: upper)
            try record.save()
        } catch {
            _ = try? tearDown(record)
            throw error
        }
        return LayerStack(record: record, attachments: attachments)
    }

    private static func mountLayers(_ record: inout LayerStackRecord, upper: String?) throws(SealedLayerError) {
        let state = record.stateDirectory
        for (index, device) in record.devices.enumerated() {
            let lower = "\(state)/lower-\(index)"
            try makeDirectory(lower)
            guard mount(device, lower, "erofs", UInt(MS_RDONLY), nil) == 0 else {
                throw .system("mount the layer on \(device) (erofs) at \(lower)", errno: errno)
            }
            record.lowers.append(lower)
            try record.save()
        }
        let writable: String
        if let upper {
            writable = upper
            try makeDirectory(upper)
        } else {
            writable = "\(state)/scratch"
            try makeDirectory(writable)
            guard mount("tmpfs", writable, "tmpfs", 0, "mode=0755") == 0 else {
                throw .system("mount a tmpfs at \(writable)", errno: errno)
            }
            record.scratch = writable
            try record.save()
        }
        try makeDirectory("\(writable)/upper")
        try makeDirectory("\(writable)/work")
        // overlayfs wants the top layer first in lowerdir, as the chain is ordered.
        let options = "lowerdir=\(record.lowers.joined(separator: ":")),upperdir=\(writable)/upper,workdir=\(writable)/work"
        guard mount("overlay", record.target, "overlay", 0, options) == 0 else {
            throw .system("mount overlay at \(record.target) (\(options))", errno: errno)
        }
        record.overlayMounted = true
    }

    /// Undoes an attach: unmounts (the target first; a busy target stops
    /// here and changes nothing more), disconnects the devices, and removes
    /// the state directory. What is already undone is skipped.
    public static func tearDown(_ record: LayerStackRecord) throws(SealedLayerError) {
        if record.overlayMounted { try unmount(record.target) }
        if let scratch = record.scratch { try unmount(scratch) }
        for lower in record.lowers { try unmount(lower) }
        for path in record.devices {
            guard let device = try? NBDDeviceNode(path: path), device.kernelPid != nil else { continue }
            do {
                try KernelAttachment.detachDevice(device, mode: .ioctl)
            } catch {
                throw .refused("cannot disconnect \(path): \(error)")
            }
        }
        let state = record.stateDirectory
        unlink(state + "/stack")
        for lower in record.lowers { rmdir(lower) }
        if let scratch = record.scratch { rmdir(scratch) }
        rmdir(state)
    }

    /// Unmounts `directory`; one that is not mounted (EINVAL) or gone is fine.
    private static func unmount(_ directory: String) throws(SealedLayerError) {
        guard umount2(directory, 0) == 0 || errno == EINVAL || errno == ENOENT else {
            if errno == EBUSY {
                throw .refused("\(directory) is busy: stop what uses it (a container, a shell in it) and detach again")
            }
            throw .system("umount \(directory)", errno: errno)
        }
    }

    private static func makeDirectory(_ path: String) throws(SealedLayerError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw .system("create \(path)", errno: errno) }
    }
}
