public import BlockDevices

/// Fills in what a device lacks, in one place, so devices stay small and the
/// engine can advertise the full command set:
/// - zero without native support: writes of zeros in bounded chunks;
/// - FUA without native support: the write, then a flush;
/// - fast zero on a device whose zero is not fast: refused with
///   `notSupported` at once, as the NBD spec asks, so the client writes zeros
///   itself instead of waiting for a slow zero;
/// - trim on a device that cannot: accepted and ignored (trim is advisory).
///
/// The engine wraps every exported device in this layer; its capabilities
/// are what the engine advertises.
public struct EmulatedDevice: DeviceLayer {
    public let lower: any BlockDevice
    private let lowerCapabilities: DeviceCapabilities

    public init(_ lower: any BlockDevice) {
        self.lower = lower
        self.lowerCapabilities = lower.capabilities
    }

    public var capabilities: DeviceCapabilities {
        var result = lowerCapabilities
        guard !result.isReadOnly else { return result }
        if result.fua == .none && result.canFlush { result.fua = .emulated }
        if result.zero == .none { result.zero = .emulated }
        result.canFastZero = lowerCapabilities.zero == .native && lowerCapabilities.canFastZero
        return result
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        if fua && lowerCapabilities.fua != .native {
            try await lower.write(data, at: offset, fua: false)
            try await lower.flush()
        } else {
            try await lower.write(data, at: offset, fua: fua)
        }
    }

    /// Passed on: emulation leaves reads alone.
    public func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        lower.startRead(into: buffer, at: offset, whenDone: whenDone)
    }

    /// Passed on unless FUA is emulated (that write needs a flush after it).
    public func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        guard !fua || lowerCapabilities.fua == .native else { return false }
        return lower.startWrite(data, at: offset, fua: fua, whenDone: whenDone)
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        guard lowerCapabilities.canTrim else {
            if fua { try await lower.flush() }
            return
        }
        if fua && lowerCapabilities.fua != .native {
            try await lower.trim(at: offset, length: length, fua: false)
            try await lower.flush()
        } else {
            try await lower.trim(at: offset, length: length, fua: fua)
        }
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        if options.contains(.fastOnly) && !(lowerCapabilities.zero == .native && lowerCapabilities.canFastZero) {
            throw DeviceError(.notSupported, "fast zero requested, but this device cannot zero quickly")
        }
        let nativeFUA = lowerCapabilities.fua == .native
        if lowerCapabilities.zero != .none {
            var lowerOptions = options
            if !nativeFUA { lowerOptions.remove(.fua) }
            try await lower.zero(at: offset, length: length, options: lowerOptions)
        } else {
            try await lower.writeZeros(at: offset, length: length)
        }
        if options.contains(.fua) && !nativeFUA { try await lower.flush() }
    }
}
