extension BlockDevice {
    /// Zeroes a range by writing zeros, in pieces of at most 1 MiB from one
    /// shared buffer: the fallback of devices and layers that cannot zero
    /// any faster (never used for a fast zero).
    public func writeZeros(at offset: UInt64, length: UInt64) async throws(DeviceError) {
        let chunk = UInt64(ZeroBuffer.shared.count)
        var position = offset
        let end = offset + length
        while position < end {
            let piece = Int(min(chunk, end - position))
            try await write(UnsafeRawBufferPointer(rebasing: ZeroBuffer.shared[..<piece]), at: position, fua: false)
            position += UInt64(piece)
        }
    }
}

/// One read-only page-aligned MiB of zeros, shared by every zeroing write.
enum ZeroBuffer {
    // Safety: written once while initialised, only ever read afterwards.
    nonisolated(unsafe) static let shared: UnsafeRawBufferPointer = {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeRawBufferPointer(memory)
    }()
}
