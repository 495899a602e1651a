import Glibc

/// What buse remembers about a device it attached, in a small file under the
/// run directory (`/run/buse/nbdN.attachment`, or `$BUSE_RUN_DIR`): enough
/// for `buse list` to show it and for `buse disconnect` to know it is ours.
/// The kernel's own view (sysfs pid, backend) is checked beside it, so a
/// record left by a crash is shown as stale, never trusted blindly.
public struct AttachmentRecord: Sendable, Equatable {
    public enum Mode: String, Sendable { case netlink, ioctl }

    public var device: NBDDeviceNode
    public var uri: String
    public var pid: Int32
    public var mode: Mode
    public var connections: Int
    public var blockSize: UInt32
    public var size: UInt64
    public var readOnly: Bool

    public init(
        device: NBDDeviceNode, uri: String, pid: Int32, mode: Mode, connections: Int, blockSize: UInt32, size: UInt64,
        readOnly: Bool
    ) {
        self.device = device
        self.uri = uri
        self.pid = pid
        self.mode = mode
        self.connections = connections
        self.blockSize = blockSize
        self.size = size
        self.readOnly = readOnly
    }

    public static var directory: String {
        if let override = getenv("BUSE_RUN_DIR") { return String(cString: override) }
        return "/run/buse"
    }

    static func path(for device: NBDDeviceNode) -> String { "\(directory)/nbd\(device.index).attachment" }

    /// The netlink backend identifier: stable for a URI, so a restarted
    /// daemon can prove it serves the same volume (RECONFIGURE checks it).
    public static func identifier(uri: String) -> String { "buse:\(uri)" }

    public func save() throws(KernelAttachError) {
        mkdir(Self.directory, 0o755)
        let text =
            [
                "uri=\(uri)", "pid=\(pid)", "mode=\(mode.rawValue)", "connections=\(connections)",
                "block-size=\(blockSize)", "size=\(size)", "read-only=\(readOnly)",
            ].joined(separator: "\n") + "\n"
        let path = Self.path(for: device)
        let temporary = path + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system("open \(temporary)", errno) }
        let written = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        guard written >= 0, rename(temporary, path) == 0 else { throw .system("write \(path)", errno) }
    }

    public static func load(_ device: NBDDeviceNode) -> AttachmentRecord? {
        let fd = open(path(for: device), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let uri = fields["uri"], let pid = fields["pid"].flatMap({ Int32($0) }),
            let mode = fields["mode"].flatMap({ Mode(rawValue: $0) })
        else { return nil }
        return AttachmentRecord(
            device: device, uri: uri, pid: pid, mode: mode, connections: fields["connections"].flatMap { Int($0) } ?? 1,
            blockSize: fields["block-size"].flatMap { UInt32($0) } ?? 4096,
            size: fields["size"].flatMap { UInt64($0) } ?? 0, readOnly: fields["read-only"] == "true")
    }

    public static func remove(_ device: NBDDeviceNode) { unlink(path(for: device)) }

    /// Whether the recorded daemon is still alive.
    public var daemonIsAlive: Bool { Self.processIsAlive(pid) }

    static func processIsAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }
}

extension KernelAttachment {
    /// What to record of this attachment, served by this process.
    public func record(readOnly: Bool = false) -> AttachmentRecord {
        AttachmentRecord(
            device: device, uri: options.uri, pid: getpid(), mode: options.useIoctl ? .ioctl : .netlink,
            connections: options.connections, blockSize: options.blockSize, size: export.description.size,
            readOnly: readOnly || export.description.flags.contains(.readOnly))
    }
}

extension NBDDeviceNode {
    /// The living process that serves this device: the one buse's record
    /// names, or with no record (another tool or version attached it) the
    /// kernel's pid for it, which is the attaching thread's.
    public var livingServer: Int32? {
        if let record = AttachmentRecord.load(self) { return record.daemonIsAlive ? record.pid : nil }
        guard let pid = kernelPid, AttachmentRecord.processIsAlive(pid) else { return nil }
        return pid
    }
}
