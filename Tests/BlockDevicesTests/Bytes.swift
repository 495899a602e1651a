import BlockDevices

/// Test helpers that move `[UInt8]` in and out of a device.
extension BlockDevice {
    func read(at offset: UInt64, count: Int) async throws(DeviceError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: count)
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 4096)
        defer { pointer.deallocate() }
        try await read(into: pointer, at: offset)
        bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(pointer)) }
        return bytes
    }

    func write(_ bytes: [UInt8], at offset: UInt64, fua: Bool = false) async throws(DeviceError) {
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 4096)
        defer { pointer.deallocate() }
        pointer.copyBytes(from: bytes)
        try await write(UnsafeRawBufferPointer(pointer), at: offset, fua: fua)
    }
}

/// Deterministic bytes that differ from position to position and from seed
/// to seed, so a misplaced write cannot go unnoticed.
func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}
