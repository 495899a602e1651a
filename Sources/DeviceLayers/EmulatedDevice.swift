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

    /// Zeroing by writes uses chunks of this size: large enough to be quick,
    /// small enough that the one shared zero buffer stays cheap.
    static let zeroChunkLength = 1 << 20

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
            try await zeroByWriting(at: offset, length: length)
        }
        if options.contains(.fua) && !nativeFUA { try await lower.flush() }
    }

    private func zeroByWriting(at offset: UInt64, length: UInt64) async throws(DeviceError) {
        let chunk = UInt64(Self.zeroChunkLength)
        var position = offset
        let end = offset + length
        while position < end {
            let piece = Int(min(chunk, end - position))
            try await lower.write(UnsafeRawBufferPointer(rebasing: ZeroBuffer.shared[..<piece]), at: position, fua: false)
            position += UInt64(piece)
        }
    }
}

/// One read-only page-aligned run of zeros shared by every emulated zero.
enum ZeroBuffer {
    // Safety: written once while initialised, only ever read afterwards.
    nonisolated(unsafe) static let shared: UnsafeRawBufferPointer = {
        let memory = UnsafeMutableRawBufferPointer.allocate(
            byteCount: EmulatedDevice.zeroChunkLength, alignment: 4096)
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeRawBufferPointer(memory)
    }()
}
