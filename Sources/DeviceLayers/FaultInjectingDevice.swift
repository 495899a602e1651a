public import BlockDevices
import Synchronization

/// Fails chosen operations with chosen errors, for tests of error paths:
/// the engine's error table, the replication link, a disk that dies mid-run.
/// Faults can be armed and cleared while I/O runs.
public final class FaultInjectingDevice: DeviceLayer {
    /// One rule: operations that touch `range` fail with `kind`, `count` times
    /// (or for ever when `count` is nil).
    public struct Fault: Sendable {
        public var operations: Set<DeviceOperation>
        public var kind: DeviceError.Kind
        public var range: Range<UInt64>?
        public var count: Int?

        public init(
            _ operations: Set<DeviceOperation>, kind: DeviceError.Kind = .io,
            range: Range<UInt64>? = nil, count: Int? = nil
        ) {
            self.operations = operations
            self.kind = kind
            self.range = range
            self.count = count
        }
    }

    public let lower: any BlockDevice
    private let faults = Mutex<[Fault]>([])
    private let injected = Atomic<Int>(0)

    public init(_ lower: any BlockDevice, faults: [Fault] = []) {
        self.lower = lower
        self.faults.withLock { $0 = faults }
    }

    /// Adds a rule; it applies to operations that start after this call.
    public func arm(_ fault: Fault) { faults.withLock { $0.append(fault) } }

    /// Removes every rule.
    public func clear() { faults.withLock { $0.removeAll() } }

    /// How many operations have failed on purpose so far.
    public var injectedCount: Int { injected.load(ordering: .relaxed) }

    private func check(_ operation: DeviceOperation, _ offset: UInt64, _ length: UInt64) throws(DeviceError) {
        let hit: DeviceError.Kind? = faults.withLock { rules in
            for index in rules.indices {
                let rule = rules[index]
                guard rule.operations.contains(operation) else { continue }
                if let range = rule.range, !range.overlaps(offset..<(offset + max(length, 1))) { continue }
                if let remaining = rule.count {
                    if remaining <= 1 { rules.remove(at: index) } else { rules[index].count = remaining - 1 }
                }
                return rule.kind
            }
            return nil
        }
        if let kind = hit {
            injected.add(1, ordering: .relaxed)
            throw DeviceError(kind, "injected fault on \(operation.rawValue) at \(offset)+\(length)")
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        try check(.read, offset, UInt64(buffer.count))
        try await lower.read(into: buffer, at: offset)
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        try check(.write, offset, UInt64(data.count))
        try await lower.write(data, at: offset, fua: fua)
    }

    public func flush() async throws(DeviceError) {
        try check(.flush, 0, 0)
        try await lower.flush()
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        try check(.trim, offset, length)
        try await lower.trim(at: offset, length: length, fua: fua)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        try check(.zero, offset, length)
        try await lower.zero(at: offset, length: length, options: options)
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        try check(.blockStatus, offset, length)
        return try await lower.blockStatus(at: offset, length: length)
    }

    public func cache(at offset: UInt64, length: UInt64) async throws(DeviceError) {
        try check(.cache, offset, length)
        try await lower.cache(at: offset, length: length)
    }
}
