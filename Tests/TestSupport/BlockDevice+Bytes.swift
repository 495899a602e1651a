public import BlockDevices

/// Test helpers that move `[UInt8]` in and out of a device, through
/// page-aligned buffers as the server's own are.
extension BlockDevice {
    public func read(at offset: UInt64, count: Int) async throws(DeviceError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 4096)
        defer { buffer.deallocate() }
        // Filled first, so a device that returns without writing every byte is caught.
        buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
        try await read(into: buffer, at: offset)
        return Array(buffer)
    }

    public func write(_ bytes: [UInt8], at offset: UInt64, fua: Bool = false) async throws(DeviceError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        try await write(UnsafeRawBufferPointer(buffer), at: offset, fua: fua)
    }
}
