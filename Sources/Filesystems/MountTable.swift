import Glibc

/// What is mounted where in this process's mount namespace, as
/// `/proc/self/mountinfo` says (proc(5)): read before a volume is mounted,
/// so that a service restarted after a crash finds its own volume still
/// mounted, and nothing is ever mounted over another filesystem unnoticed.
public enum MountTable {
    /// One line of the table.
    public struct Mount: Equatable, Sendable {
        /// Where it is mounted, as the kernel spells it (absolute, resolved).
        public var mountPoint: String
        /// What is mounted: a device path such as `/dev/nbd0`, or a name
        /// such as `tmpfs` or `proc`.
        public var source: String
        public var filesystemType: String

        public init(mountPoint: String, source: String, filesystemType: String) {
            self.mountPoint = mountPoint
            self.source = source
            self.filesystemType = filesystemType
        }
    }

    /// The mount on top at `directory` (the one a path through it reaches,
    /// the last mounted there), or nil when `directory` is not a mount
    /// point (or does not exist). `directory` is resolved first, as the
    /// kernel's table holds resolved paths.
    public static func mount(at directory: String) throws(FilesystemError) -> Mount? {
        guard let resolved = realpath(directory, nil) else {
            if errno == ENOENT { return nil }
            throw .system("resolve", directory, errno: errno)
        }
        let path = String(cString: resolved)
        free(resolved)
        return parse(try readTable()).last { $0.mountPoint == path }
    }

    /// The mounts of a `mountinfo` text, in its order (the order they were
    /// mounted in).
    public static func parse(_ table: String) -> [Mount] {
        table.split(separator: "\n").compactMap { line in
            // ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10, let separator = fields[6...].firstIndex(of: "-"), separator + 2 < fields.count else {
                return nil
            }
            return Mount(
                mountPoint: unescape(fields[4]), source: unescape(fields[separator + 2]),
                filesystemType: unescape(fields[separator + 1]))
        }
    }

    /// The kernel writes a space, tab, newline and backslash in a path as a
    /// backslash and three octal digits (`\040` for a space).
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), let value = octal(utf8[(index + 1)..<min(index + 4, utf8.count)]) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }

    private static func readTable() throws(FilesystemError) -> String {
        let path = "/proc/self/mountinfo"
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read", path, errno: errno)
            }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
