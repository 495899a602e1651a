import BlockDevices

extension BlockDevice {
    /// The device's bytes, read directly, to check what the server stored.
    func bytes(at offset: UInt64, count: Int) async throws(DeviceError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        defer { buffer.deallocate() }
        try await read(into: buffer, at: offset)
        return Array(buffer)
    }
}
