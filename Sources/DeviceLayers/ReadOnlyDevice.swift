public import BlockDevices

/// Presents a device as read-only: the engine then refuses writes with EPERM
/// before they arrive, and this layer refuses any that still do.
public struct ReadOnlyDevice: DeviceLayer {
    public let lower: any BlockDevice

    public init(_ lower: any BlockDevice) { self.lower = lower }

    public var capabilities: DeviceCapabilities {
        var result = lower.capabilities
        result.isReadOnly = true
        result.fua = .none
        result.canTrim = false
        result.zero = .none
        result.canFastZero = false
        // With no writes, every connection trivially sees the same data.
        result.isMultiConnSafe = true
        result.startsWithoutTask = false
        return result
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        throw .refused("write", by: capabilities)
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        throw .refused("trim", by: capabilities)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        throw .refused("zero", by: capabilities)
    }

    /// Nothing was written through this layer, so there is nothing to flush.
    public func flush() async throws(DeviceError) {}
}
