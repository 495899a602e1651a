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

/// What became of a write offered to ``BlockDevice/startWrite(_:at:fua:whenDone:)``.
public enum StartedWrite: Sendable {
    /// The device has no task-free path for it: nothing was written.
    case declined
    /// The device started it, and it ended with this failure, or none.
    case ended(DeviceError?)

    /// Started and ended without a failure.
    public var succeeded: Bool {
        if case .ended(nil) = self { return true }
        return false
    }
}

extension BlockDevice {
    /// Offers `bytes` to `startWrite` and waits until it ends. The buffer is
    /// scribbled over once it ends, so a device that read it later would
    /// store garbage and fail the test's read-back. A device that calls
    /// `whenDone` twice, or after declining, traps the checked continuation.
    public func startedWrite(_ bytes: [UInt8], at offset: UInt64, fua: Bool = false) async -> StartedWrite {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<StartedWrite, Never>) in
            let started = startWrite(UnsafeRawBufferPointer(buffer), at: offset, fua: fua) { failure in
                continuation.resume(returning: .ended(failure))
            }
            if !started { continuation.resume(returning: .declined) }
        }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xDB)
        return outcome
    }
}

/// What became of a read offered to ``BlockDevice/startRead(into:at:whenDone:)``.
public enum StartedRead: Sendable {
    /// The device has no task-free path for it.
    case declined
    /// The device started it; it ended with these bytes, or this failure.
    case ended(Result<[UInt8], DeviceError>)

    /// The bytes of a read that started and ended without a failure.
    public var bytes: [UInt8]? {
        if case let .ended(.success(bytes)) = self { return bytes }
        return nil
    }
}

extension BlockDevice {
    /// Offers a read of `count` bytes to `startRead` and waits until it
    /// ends, through a buffer pre-filled with a pattern no device writes.
    public func startedRead(at offset: UInt64, count: Int) async -> StartedRead {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
        // Safety: the device writes it only until `whenDone`, which this waits for.
        nonisolated(unsafe) let target = buffer
        return await withCheckedContinuation { (continuation: CheckedContinuation<StartedRead, Never>) in
            let started = startRead(into: target, at: offset) { failure in
                continuation.resume(returning: .ended(failure.map { .failure($0) } ?? .success(Array(target))))
            }
            if !started { continuation.resume(returning: .declined) }
        }
    }
}
