public import BlockDevices
public import NBDProtocol

/// The one table from device failures to NBD error values. The caller logs
/// the device's message (the real cause) before replying with this.
public enum ErrorTable {
    public static func code(for error: DeviceError, flags: CommandFlags) -> ErrorCode {
        switch error.kind {
        case .io: .io
        case .noSpace: .noSpace
        case .permission: .permission
        case .invalid: .invalid
        case .outOfMemory: .outOfMemory
        case .shutdown: .shutdown
        // ENOTSUP is only meaningful to a client that asked for a fast zero;
        // anyone else gets EINVAL, as the spec and nbdkit do.
        case .notSupported: flags.contains(.fastZero) ? .notSupported : .invalid
        }
    }
}
