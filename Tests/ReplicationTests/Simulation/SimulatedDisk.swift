import BlockDevices
import TestSupport

/// A disk with a volatile write cache: writes land in the cache, FLUSH (or
/// FUA) makes them durable, and a power loss keeps a random subset of the
/// cached 512-byte sectors (so a write can be torn). It can fail reads,
/// writes and flushes at a seeded rate. Each operation first yields, so
/// concurrent operations interleave.
final class SimulatedDisk: BlockDevice, @unchecked Sendable {
    // Safety: used only on the simulation's one thread.
    static let sectorSize = 512
    let size: UInt64
    private var durable: [UInt8]
    private var cache: [Int: [UInt8]] = [:]
    private var random: SeededGenerator
    /// Percent of operations that fail with EIO.
    var failurePercent = 0
    /// A disk whose host lost power: every operation fails.
    private(set) var dead = false

    init(size: UInt64, seed: UInt64) {
        self.size = size
        durable = [UInt8](repeating: 0, count: Int(size))
        random = SeededGenerator(seed: seed)
    }

    var capabilities: DeviceCapabilities {
        DeviceCapabilities(canFlush: true, fua: .native, canTrim: true, zero: .native, canBlockStatus: false, isMultiConnSafe: true)
    }

    private func enter(_ operation: String) async throws(DeviceError) {
        await Task.yield()
        if dead { throw DeviceError(.io, "\(operation): the simulated host lost power") }
        if failurePercent > 0, random.chance(percent: failurePercent) { throw DeviceError(.io, "\(operation): injected failure") }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        try await enter("read")
        let bytes = contents(Int(offset)..<(Int(offset) + buffer.count))
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        try await enter("write")
        store(Array(data), at: Int(offset), durably: fua)
    }

    func flush() async throws(DeviceError) {
        try await enter("flush")
        for (sector, bytes) in cache { durable.replaceSubrange(sector * Self.sectorSize..<((sector + 1) * Self.sectorSize), with: bytes) }
        cache = [:]
    }

    func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        try await enter("trim")
        store([UInt8](repeating: 0, count: Int(length)), at: Int(offset), durably: fua)
    }

    func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        try await enter("zero")
        store([UInt8](repeating: 0, count: Int(length)), at: Int(offset), durably: options.contains(.fua))
    }

    private func store(_ bytes: [UInt8], at offset: Int, durably: Bool) {
        // Read-modify-write of partial sectors, through the cache.
        let first = offset / Self.sectorSize
        let last = (offset + bytes.count - 1) / Self.sectorSize
        for sector in first...last {
            let start = sector * Self.sectorSize
            var content = contents(start..<(start + Self.sectorSize))
            let lower = max(start, offset)
            let upper = min(start + Self.sectorSize, offset + bytes.count)
            content.replaceSubrange((lower - start)..<(upper - start), with: bytes[(lower - offset)..<(upper - offset)])
            if durably {
                durable.replaceSubrange(start..<(start + Self.sectorSize), with: content)
                cache[sector] = nil
            } else {
                cache[sector] = content
            }
        }
    }

    /// What a read would return, without failing or yielding.
    func contents(_ range: Range<Int>) -> [UInt8] {
        var bytes = Array(durable[range])
        guard !cache.isEmpty else { return bytes }
        let first = range.lowerBound / Self.sectorSize
        let last = (range.upperBound - 1) / Self.sectorSize
        for sector in first...last {
            guard let cached = cache[sector] else { continue }
            let start = sector * Self.sectorSize
            let lower = max(start, range.lowerBound)
            let upper = min(start + Self.sectorSize, range.upperBound)
            bytes.replaceSubrange((lower - range.lowerBound)..<(upper - range.lowerBound), with: cached[(lower - start)..<(upper - start)])
        }
        return bytes
    }

    var allContents: [UInt8] { contents(0..<Int(size)) }

    /// The power fails: this disk is dead, and the returned one holds what
    /// survived: everything flushed and a random subset of cached sectors.
    func losePower() -> SimulatedDisk {
        dead = true
        let survivor = SimulatedDisk(size: size, seed: random.next())
        survivor.durable = durable
        for sector in cache.keys.sorted() where random.chance(percent: 50) {
            survivor.durable.replaceSubrange(sector * Self.sectorSize..<((sector + 1) * Self.sectorSize), with: cache[sector]!)
        }
        return survivor
    }

    /// A clean stop: the cache was flushed; the returned disk holds it all.
    func stopCleanly() -> SimulatedDisk {
        dead = true
        let survivor = SimulatedDisk(size: size, seed: random.next())
        survivor.durable = allContents
        return survivor
    }
}
