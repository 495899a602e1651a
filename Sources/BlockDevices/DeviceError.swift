#if canImport(Glibc)
    import Glibc
#endif

/// An operating failure of a device: the disk said EIO, the pool is full, the
/// cluster timed out. Each kind maps to exactly one NBD error value (the table
/// is in NBDServer); `message` carries the real cause for the log.
public struct DeviceError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The data could not be read or written (EIO, a cluster timeout).
        case io
        /// No space left to store the data (ENOSPC, EDQUOT, a full pool).
        case noSpace
        /// The device refuses to be written (EROFS, EPERM, a lost lock).
        case permission
        /// The request made no sense to the device (EINVAL).
        case invalid
        /// The device cannot do this, or not fast enough (fast zero).
        case notSupported
        /// The device ran out of memory.
        case outOfMemory
        /// The service is shutting down and takes no new work.
        case shutdown
    }

    public var kind: Kind
    /// What really happened, for the log: the failing call, its target and errno text.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// Classifies a system errno, keeping `context` (the call and its target) for the log.
    public init(errno code: Int32, _ context: String) {
        let kind: Kind
        switch code {
        case EROFS, EPERM, EACCES: kind = .permission
        case ENOSPC, EDQUOT, EFBIG: kind = .noSpace
        case EINVAL: kind = .invalid
        case EOPNOTSUPP, ENOSYS: kind = .notSupported
        case ENOMEM: kind = .outOfMemory
        case ESHUTDOWN: kind = .shutdown
        default: kind = .io
        }
        self.init(kind, "\(context): \(String(cString: strerror(code))) (errno \(code))")
    }

    public var description: String { "\(kind): \(message)" }

    /// The refusal of an `operation` a device with `capabilities` lacks:
    /// `permission` on a read-only device (EPERM, as the NBD spec asks),
    /// `notSupported` otherwise.
    public static func refused(_ operation: String, by capabilities: DeviceCapabilities) -> DeviceError {
        capabilities.isReadOnly
            ? DeviceError(.permission, "\(operation) on a read-only device")
            : DeviceError(.notSupported, "this device has no \(operation)")
    }
}
