public import BlockDevices

/// A window onto part of a device: byte 0 of this device is `offset` of the
/// one below, and it is `length` bytes long (a partition, or a slice in tests).
public struct OffsetDevice: DeviceLayer {
    public let lower: any BlockDevice
    public let offset: UInt64
    public let size: UInt64

    public enum SetupError: Error, CustomStringConvertible {
        case outOfRange(offset: UInt64, length: UInt64, lowerSize: UInt64)
        public var description: String {
            switch self {
            case let .outOfRange(offset, length, lowerSize):
                "window \(offset)+\(length) does not fit in a device of \(lowerSize) bytes"
            }
        }
    }

    public init(_ lower: any BlockDevice, offset: UInt64, length: UInt64) throws(SetupError) {
        guard offset <= lower.size, length <= lower.size - offset else {
            throw .outOfRange(offset: offset, length: length, lowerSize: lower.size)
        }
        self.lower = lower
        self.offset = offset
        self.size = length
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) async throws(DeviceError) {
        try await lower.read(into: buffer, at: offset + position)
    }

    public func write(_ data: UnsafeRawBufferPointer, at position: UInt64, fua: Bool) async throws(DeviceError) {
        try await lower.write(data, at: offset + position, fua: fua)
    }

    public func trim(at position: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        try await lower.trim(at: offset + position, length: length, fua: fua)
    }

    public func zero(at position: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        try await lower.zero(at: offset + position, length: length, options: options)
    }

    public func blockStatus(at position: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        var extents = try await lower.blockStatus(at: offset + position, length: length)
        // The device below may describe past the window's end: clip it.
        var remaining = length
        var clipped = 0
        for index in extents.indices {
            guard remaining > 0 else { break }
            extents[index].length = min(extents[index].length, remaining)
            remaining -= extents[index].length
            clipped = index + 1
        }
        return Array(extents[..<clipped])
    }

    public func cache(at position: UInt64, length: UInt64) async throws(DeviceError) {
        try await lower.cache(at: offset + position, length: length)
    }
}
