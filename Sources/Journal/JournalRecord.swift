/// One logged write: what changed, where, and under which generation.
/// Data itself is not logged (it lives on both sides' devices); the record
/// is what lets the primary know which regions a peer may lack.
public struct JournalRecord: Sendable, Equatable {
    public var sequence: UInt64
    public var offset: UInt64
    public var length: UInt32
    /// CRC-32C of the data written (0 for trims and zeroes).
    public var checksum: UInt32
    public var generation: UInt64

    public init(sequence: UInt64, offset: UInt64, length: UInt32, checksum: UInt32, generation: UInt64) {
        self.sequence = sequence
        self.offset = offset
        self.length = length
        self.checksum = checksum
        self.generation = generation
    }

    /// Fixed 24-byte big-endian value; the sequence is the key.
    static let encodedLength = 24

    /// The value (offset, length, checksum, generation, big-endian), in
    /// bytes on the stack lent to `body`.
    func withEncodedValue<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: Self.encodedLength, alignment: 8) { bytes in
            bytes.storeBytes(of: offset.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: length.bigEndian, toByteOffset: 8, as: UInt32.self)
            bytes.storeBytes(of: checksum.bigEndian, toByteOffset: 12, as: UInt32.self)
            bytes.storeBytes(of: generation.bigEndian, toByteOffset: 16, as: UInt64.self)
            return body(UnsafeRawBufferPointer(bytes))
        }
    }

    init?(sequence: UInt64, value: UnsafeRawBufferPointer) {
        guard value.count == Self.encodedLength else { return nil }
        func load<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var result: T = 0
            for index in 0..<MemoryLayout<T>.size { result = result << 8 | T(value[at + index]) }
            return result
        }
        self.init(
            sequence: sequence, offset: load(0, UInt64.self), length: load(8, UInt32.self), checksum: load(12, UInt32.self),
            generation: load(16, UInt64.self))
    }
}
