import Glibc

/// Why sealing, listing or attaching sealed layers failed, with what was
/// being done; each case is a message a person can act on.
public enum SealedLayerError: Error, Sendable, CustomStringConvertible {
    /// The snapshot cannot be sealed (not committed, not named by a chain ID, unknown).
    case refused(String)
    /// A system call failed.
    case system(String, errno: Int32)
    /// `mkfs.erofs` (or another tool) failed.
    case tool(String, status: Int32, output: String)
    /// The NBD server broke the protocol or refused an option.
    case server(String)

    public var description: String {
        switch self {
        case let .refused(message), let .server(message): message
        case let .system(what, code): "\(what): \(String(cString: strerror(code)))"
        case let .tool(what, status, output): "\(what) exited with status \(status): \(output)"
        }
    }
}
