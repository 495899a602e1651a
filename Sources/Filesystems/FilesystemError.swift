import Glibc

/// Why a volume's filesystem could not be probed, made, mounted or unmounted.
public enum FilesystemError: Error, CustomStringConvertible, Equatable {
    /// A tool (blkid, mkfs.ext4) could not run or failed; its output says why.
    case tool(String, status: Int32, output: String)
    /// `--format` on a device that already holds something.
    case notBlank(device: String, holds: String)
    /// No filesystem on the device, and formatting was not asked for.
    case blank(device: String)
    case system(_ call: String, _ target: String, errno: Int32)

    public var description: String {
        switch self {
        case let .tool(command, status, output):
            "\(command) failed (exit \(status))\(output.isEmpty ? "" : ": \(output)")"
        case let .notBlank(device, holds):
            "\(device) is not blank (it holds \(holds)); --format only makes a filesystem on a blank device: "
                + "drop --format to mount what is there"
        case let .blank(device):
            "\(device) holds no filesystem; add --format to make ext4 on it"
        case let .system(call, target, code):
            "\(call) \(target): \(String(cString: strerror(code)))"
        }
    }
}
