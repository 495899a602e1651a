public import BlockDevices

/// A device that wraps another and forwards every operation it does not
/// change, as an nbdkit filter does: a layer overrides only what it alters.
///
/// Layers stack: journal over replication over a RADOS image, or a delay over
/// a fault injector over memory in tests. Each is testable without a socket.
public protocol DeviceLayer: BlockDevice {
    /// The device underneath.
    var lower: any BlockDevice { get }
}

extension DeviceLayer {
    public var size: UInt64 { lower.size }
    /// The lower device's, except that a layer does not start requests
    /// without a task unless it says so itself (it would decline them).
    public var capabilities: DeviceCapabilities {
        var capabilities = lower.capabilities
        capabilities.startsWithoutTask = false
        return capabilities
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        try await lower.read(into: buffer, at: offset)
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        try await lower.write(data, at: offset, fua: fua)
    }

    public func flush() async throws(DeviceError) {
        try await lower.flush()
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        try await lower.trim(at: offset, length: length, fua: fua)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        try await lower.zero(at: offset, length: length, options: options)
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        try await lower.blockStatus(at: offset, length: length)
    }

    public func cache(at offset: UInt64, length: UInt64) async throws(DeviceError) {
        try await lower.cache(at: offset, length: length)
    }

    public func close() async throws(DeviceError) {
        try await lower.close()
    }
}
