import Glibc

/// A kernel nbd device, `/dev/nbdN`, and what sysfs says about it.
public struct NBDDeviceNode: Sendable, Equatable, CustomStringConvertible {
    public let index: Int32

    public init(index: Int32) { self.index = index }

    public init(path: String) throws(KernelAttachError) {
        guard path.hasPrefix("/dev/nbd"), let index = Int32(path.dropFirst("/dev/nbd".count)), index >= 0 else {
            throw .badDevicePath(path)
        }
        self.index = index
    }

    public var path: String { "/dev/nbd\(index)" }
    public var description: String { path }
    var sysfs: String { "/sys/block/nbd\(index)" }

    /// The pid of the process the kernel considers the device's user (the
    /// one that attached it), present while the device is attached.
    public var kernelPid: Int32? { readSysfs("pid").flatMap { Int32($0) } }

    /// The backend identifier given at attach time over netlink, if any.
    public var backend: String? { readSysfs("backend").flatMap { $0.isEmpty ? nil : $0 } }

    /// Size in bytes as the kernel sees it (0 when detached).
    public var kernelSize: UInt64 { (readSysfs("size").flatMap { UInt64($0) } ?? 0) * 512 }

    public var exists: Bool { access(sysfs, F_OK) == 0 }

    /// Every nbd device the kernel has created, in index order.
    public static func all() -> [NBDDeviceNode] {
        guard let directory = opendir("/sys/block") else { return [] }
        defer { closedir(directory) }
        var nodes: [NBDDeviceNode] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("nbd"), let index = Int32(name.dropFirst(3)) { nodes.append(NBDDeviceNode(index: index)) }
        }
        return nodes.sorted { $0.index < $1.index }
    }

    /// A device nobody has attached: no pid, no size.
    public var isFree: Bool { kernelPid == nil && kernelSize == 0 }

    func readSysfs(_ name: String) -> String? {
        let fd = open("\(sysfs)/\(name)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingTrailingNewlines()
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var result = self
        while result.last == "\n" || result.last == " " { result.removeLast() }
        return result
    }
}
