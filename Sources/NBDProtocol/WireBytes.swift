/// Builds a big-endian frame in a growable byte array (negotiation replies,
/// error chunks): the cold path, where clarity beats saving an allocation.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func append(_ value: UInt8) { bytes.append(value) }
    public mutating func append(_ value: UInt16) { appendBigEndian(value) }
    public mutating func append(_ value: UInt32) { appendBigEndian(value) }
    public mutating func append(_ value: UInt64) { appendBigEndian(value) }
    public mutating func append(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }
    public mutating func append(zeroes count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads big-endian fields from a received frame, failing softly when the
/// frame is shorter than its fields say (a peer's mistake, never a trap).
public struct WireReader {
    private let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var remaining: Int { bytes.count - position }

    public mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        let width = MemoryLayout<T>.size
        guard remaining >= width else { return nil }
        var value: T = 0
        for index in 0..<width { value = value << 8 | T(bytes[position + index]) }
        position += width
        return value
    }

    public mutating func read(count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return bytes[position..<(position + count)]
    }
}

/// Loads and stores big-endian integers in raw memory: the hot path's request
/// and reply headers, with no allocation.
extension UnsafeRawPointer {
    @inlinable func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as: T.Type) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawPointer {
    @inlinable func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}
