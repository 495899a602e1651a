public import BlockDevices

/// Adds latency to chosen operations, to make slow storage (a remote
/// cluster, a peer across a WAN) reproducible in tests: replies complete out
/// of order, in-flight limits fill up, shutdown has work to wait for. Each
/// operation waits `delay` plus a random part of `jitter`, so concurrent
/// requests finish in a shuffled order, as they do on real remote storage.
public struct DelayedDevice: DeviceLayer {
    public let lower: any BlockDevice
    public let delay: Duration
    public let jitter: Duration
    public let operations: Set<DeviceOperation>

    public init(
        _ lower: any BlockDevice, delay: Duration, jitter: Duration = .zero,
        operations: Set<DeviceOperation> = Set(DeviceOperation.allCases)
    ) {
        self.lower = lower
        self.delay = delay
        self.jitter = jitter
        self.operations = operations
    }

    private func pause(_ operation: DeviceOperation) async {
        guard operations.contains(operation) else { return }
        let extra = jitter > .zero ? jitter * Double.random(in: 0..<1) : .zero
        // A cancelled sleep just ends the delay early; the operation still runs.
        try? await Task.sleep(for: delay + extra)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        await pause(.read)
        try await lower.read(into: buffer, at: offset)
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        await pause(.write)
        try await lower.write(data, at: offset, fua: fua)
    }

    public func flush() async throws(DeviceError) {
        await pause(.flush)
        try await lower.flush()
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        await pause(.trim)
        try await lower.trim(at: offset, length: length, fua: fua)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        await pause(.zero)
        try await lower.zero(at: offset, length: length, options: options)
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        await pause(.blockStatus)
        return try await lower.blockStatus(at: offset, length: length)
    }
}
