import Glibc

/// Who holds the `flock` on a file, read from `/proc/locks`, so that "in
/// use" can say by whom: this very process (a second export of the same
/// file), or another one, by pid and name.
public enum FileLockHolder: Sendable, Equatable, CustomStringConvertible {
    case thisProcess
    case process(pid: Int32, name: String)
    /// Not found (the holder let go meanwhile, or /proc is not mounted).
    case unknown

    /// The holder of a `flock` on the file open as `descriptor`.
    static func of(_ descriptor: Int32) -> FileLockHolder {
        var status = stat()
        guard fstat(descriptor, &status) == 0, let locks = readWhole("/proc/locks") else { return .unknown }
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": major and minor
        // in hex, then the inode in decimal.
        for line in locks.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            let device = fields[5].split(separator: ":")
            guard device.count == 3, UInt64(device[2]) == UInt64(status.st_ino),
                UInt32(device[0], radix: 16) == major(status.st_dev),
                UInt32(device[1], radix: 16) == minor(status.st_dev)
            else { continue }
            if pid == getpid() { return .thisProcess }
            let name = readWhole("/proc/\(pid)/comm").map { String($0.filter { $0 != "\n" }) } ?? "?"
            return .process(pid: pid, name: name)
        }
        return .unknown
    }

    public var description: String {
        switch self {
        case .thisProcess: "another device of this same process"
        case let .process(pid, name): "process \(pid) (\(name))"
        case .unknown: "another process"
        }
    }

    private static func readWhole(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func major(_ device: dev_t) -> UInt32 { UInt32((device >> 8) & 0xfff) | UInt32((device >> 32) & ~0xfff) }
    private static func minor(_ device: dev_t) -> UInt32 { UInt32(device & 0xff) | UInt32((device >> 12) & ~0xff) }
}
