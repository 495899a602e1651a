public import BlockDevices
import Synchronization

/// Counts the operations that reach a device, by kind, and the bytes read
/// and written: what `buse` reports when an export or attachment ends, and
/// how tests prove that, say, the kernel really sends flushes.
public final class CountingDevice: DeviceLayer {
    public let lower: any BlockDevice
    private struct Counts {
        var operations: [DeviceOperation: Int] = [:]
        var bytesRead: UInt64 = 0
        var bytesWritten: UInt64 = 0
    }

    private let counts = Mutex(Counts())

    public init(_ lower: any BlockDevice) { self.lower = lower }

    /// The lower device's, tasks included: reads and writes started
    /// without one are passed on, and counted when they end.
    public var capabilities: DeviceCapabilities { lower.capabilities }

    /// How many operations of a kind have completed successfully.
    public func count(_ operation: DeviceOperation) -> Int {
        counts.withLock { $0.operations[operation, default: 0] }
    }

    /// One line for the log: `reads=… writes=… flushes=… trims=… zeroes=… bytes-read=… bytes-written=…`.
    public var summary: String {
        let snapshot = counts.withLock { $0 }
        let operations = snapshot.operations
        return "reads=\(operations[.read, default: 0]) writes=\(operations[.write, default: 0]) "
            + "flushes=\(operations[.flush, default: 0]) trims=\(operations[.trim, default: 0]) "
            + "zeroes=\(operations[.zero, default: 0]) block-status=\(operations[.blockStatus, default: 0]) "
            + "bytes-read=\(snapshot.bytesRead) bytes-written=\(snapshot.bytesWritten)"
    }

    private func done(_ operation: DeviceOperation, read: Int = 0, written: Int = 0) {
        counts.withLock { counts in
            counts.operations[operation, default: 0] += 1
            counts.bytesRead += UInt64(read)
            counts.bytesWritten += UInt64(written)
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        try await lower.read(into: buffer, at: offset)
        done(.read, read: buffer.count)
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        try await lower.write(data, at: offset, fua: fua)
        done(.write, written: data.count)
    }

    public func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        let read = buffer.count
        return lower.startRead(into: buffer, at: offset) { [self] error in
            if error == nil { done(.read, read: read) }
            whenDone(error)
        }
    }

    public func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        let written = data.count
        return lower.startWrite(data, at: offset, fua: fua) { [self] error in
            if error == nil { done(.write, written: written) }
            whenDone(error)
        }
    }

    public func flush() async throws(DeviceError) {
        try await lower.flush()
        done(.flush)
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        try await lower.trim(at: offset, length: length, fua: fua)
        done(.trim)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        try await lower.zero(at: offset, length: length, options: options)
        done(.zero)
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        let extents = try await lower.blockStatus(at: offset, length: length)
        done(.blockStatus)
        return extents
    }

    public func cache(at offset: UInt64, length: UInt64) async throws(DeviceError) {
        try await lower.cache(at: offset, length: length)
        done(.cache)
    }
}
