public import BlockDevices

/// Why a copy stopped. Device failures keep the device's own error (with
/// its cause) and say where in the copy they happened.
public enum CopyError: Error, Sendable, CustomStringConvertible {
    case blockStatus(DeviceError, at: UInt64)
    case read(DeviceError, at: UInt64)
    case write(DeviceError, at: UInt64)
    case zero(DeviceError, at: UInt64)
    case flush(DeviceError)
    case destinationTooSmall(source: UInt64, destination: UInt64)
    case destinationReadOnly
    /// The task running the copy was cancelled (an interrupted command);
    /// `done` bytes of the source had been copied.
    case cancelled(done: UInt64)

    public var description: String {
        switch self {
        case let .blockStatus(error, offset): "asking the source which bytes hold data at offset \(offset) failed: \(error)"
        case let .read(error, offset): "reading the source at offset \(offset) failed: \(error)"
        case let .write(error, offset): "writing the destination at offset \(offset) failed: \(error)"
        case let .zero(error, offset): "zeroing the destination at offset \(offset) failed: \(error)"
        case let .flush(error): "flushing the destination after the copy failed: \(error)"
        case let .destinationTooSmall(source, destination):
            "the destination holds \(destination) bytes, fewer than the source's \(source)"
        case .destinationReadOnly: "the destination is read-only"
        case let .cancelled(done): "interrupted after \(done) bytes"
        }
    }
}
