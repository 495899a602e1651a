/// What each 512-byte sector of the volume may hold, as the client saw its
/// writes acknowledged and flushed. Blocks are 4 KiB; a block written at
/// generation g holds (block, g) in every 8 bytes, so any sector read back
/// names the write it came from, and a torn write shows as sectors of
/// different generations.
struct WriteModel {
    static let blockSize = 4096
    static let sectorSize = 512
    static let sectorsPerBlock = blockSize / sectorSize

    /// Values a read may return now (no crash since).
    private(set) var allowed: [Set<UInt32>]
    /// Values that may survive the primary losing power.
    private(set) var durable: [Set<UInt32>]
    private var issued: [[(generation: UInt32, order: Int)]]
    /// After the primary lost power and came back with less, the peer may
    /// still hold what it had (acknowledged, unflushed writes) until a
    /// resync makes it equal to the primary again.
    private var peerMayHold: [Set<UInt32>]
    private var order = 0
    private(set) var nextGeneration: [UInt32]

    init(blocks: Int) {
        let sectors = blocks * Self.sectorsPerBlock
        allowed = Array(repeating: [0], count: sectors)
        durable = Array(repeating: [0], count: sectors)
        issued = Array(repeating: [], count: sectors)
        peerMayHold = Array(repeating: [], count: sectors)
        nextGeneration = Array(repeating: 1, count: blocks)
    }

    static func sectors(of block: Int) -> Range<Int> { block * sectorsPerBlock..<((block + 1) * sectorsPerBlock) }

    static func pattern(block: Int, generation: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(blockSize)
        for _ in 0..<(blockSize / 8) {
            withUnsafeBytes(of: UInt32(block).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: generation.littleEndian) { bytes += $0 }
        }
        return bytes
    }

    /// The generation a sector holds, or nil if it holds something no write made.
    static func generation(of sector: UnsafeRawBufferPointer, block: Int) -> UInt32? {
        let first = sector.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        for offset in stride(from: 8, to: sectorSize, by: 8) where sector.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != first {
            return nil
        }
        if first == 0 { return 0 }
        guard UInt32(truncatingIfNeeded: UInt64(littleEndian: first)) == UInt32(block) else { return nil }
        return UInt32(truncatingIfNeeded: UInt64(littleEndian: first) >> 32)
    }

    static func generation(of contents: [UInt8], sector: Int) -> UInt32? {
        contents.withUnsafeBytes { bytes in
            generation(
                of: UnsafeRawBufferPointer(rebasing: bytes[(sector * sectorSize)..<((sector + 1) * sectorSize)]),
                block: sector / sectorsPerBlock)
        }
    }

    mutating func issue(block: Int) -> UInt32 {
        let generation = nextGeneration[block]
        nextGeneration[block] += 1
        order += 1
        for sector in Self.sectors(of: block) {
            allowed[sector].insert(generation)
            durable[sector].insert(generation)
            issued[sector].append((generation, order))
        }
        return generation
    }

    mutating func acknowledge(block: Int, generation: UInt32) {
        for sector in Self.sectors(of: block) { allowed[sector] = [generation] }
    }

    struct FlushMark {
        let allowed: [Set<UInt32>]
        let order: Int
    }

    func flushStarted() -> FlushMark { FlushMark(allowed: allowed, order: order) }

    /// A flush succeeded: what was allowed when it began is durable now,
    /// along with anything issued since.
    mutating func flushSucceeded(_ mark: FlushMark) {
        for sector in durable.indices {
            var next = mark.allowed[sector]
            for entry in issued[sector] where entry.order > mark.order { next.insert(entry.generation) }
            durable[sector] = next
        }
    }

    /// Checks `contents` against `sets`; returns the first violation.
    func violation(in contents: [UInt8], against sets: [Set<UInt32>], what: String) -> String? {
        for sector in sets.indices {
            let block = sector / Self.sectorsPerBlock
            guard let found = Self.generation(of: contents, sector: sector) else {
                return "\(what): sector \(sector) (block \(block)) holds bytes no write made"
            }
            guard sets[sector].contains(found) else {
                return "\(what): sector \(sector) (block \(block)) holds generation \(found), expected one of \(sets[sector].sorted())"
            }
        }
        return nil
    }

    /// What a promoted peer may hold: what the primary may, and more after a primary crash.
    var allowedOnPeer: [Set<UInt32>] { zip(allowed, peerMayHold).map { $0.union($1) } }

    mutating func resetAfterPrimaryCrash(to contents: [UInt8]) {
        for sector in allowed.indices { peerMayHold[sector].formUnion(allowed[sector]) }
        reset(to: contents)
    }

    mutating func peerCaughtUp() {
        for sector in peerMayHold.indices where !peerMayHold[sector].isEmpty { peerMayHold[sector] = [] }
    }

    /// After a crash or failover, what is on the disk is the new truth.
    mutating func reset(to contents: [UInt8]) {
        for sector in allowed.indices {
            let found = Self.generation(of: contents, sector: sector) ?? 0
            allowed[sector] = [found]
            durable[sector] = [found]
            issued[sector] = []
        }
    }
}
