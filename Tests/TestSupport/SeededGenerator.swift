/// SplitMix64: a small, fast generator whose whole state is its seed, so a
/// failing run reproduces from the seed it prints.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }

    /// True with probability `probability` (0 to 1).
    public mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }

    /// True with probability `percent` in 100.
    public mutating func chance(percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }
}

/// Deterministic bytes that differ from position to position and from seed
/// to seed, so a misplaced or mixed-up write cannot go unnoticed: the
/// generator's words, each stored little-endian.
///
/// Stored a word at a time, not a byte at a time: tests call this from
/// Swift's cooperative pool (two threads here), and in a debug build the
/// byte loop took 3 s for 24 MiB on an idle machine; under the full suite
/// it held a pool thread for tens of seconds, and every test waiting to be
/// resumed waited with it (2 tests failed their time limit).
public func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        let bytes = UnsafeMutableRawBufferPointer(buffer)
        var index = 0
        while index + 8 <= count {
            bytes.storeBytes(of: generator.next().littleEndian, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        if index < count {
            withUnsafeBytes(of: generator.next().littleEndian) { word in
                bytes.baseAddress!.advanced(by: index).copyMemory(from: word.baseAddress!, byteCount: count - index)
            }
        }
        initialized = count
    }
}
