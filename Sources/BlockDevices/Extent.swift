/// A run of bytes with the same allocation state, as `base:allocation` reports it.
public struct Extent: Sendable, Equatable {
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// NBD_STATE_HOLE: no storage is allocated.
        public static let hole = Flags(rawValue: 1 << 0)
        /// NBD_STATE_ZERO: the bytes read as zeros.
        public static let zero = Flags(rawValue: 1 << 1)
    }

    public var length: UInt64
    public var flags: Flags

    public init(length: UInt64, flags: Flags) {
        self.length = length
        self.flags = flags
    }

    /// Allocated data.
    public static func data(_ length: UInt64) -> Extent { Extent(length: length, flags: []) }
    /// Unallocated, reads as zeros.
    public static func hole(_ length: UInt64) -> Extent { Extent(length: length, flags: [.hole, .zero]) }
}

extension Array where Element == Extent {
    /// Joins neighbours with the same flags, so replies stay short.
    public mutating func appendMerging(_ extent: Extent) {
        guard extent.length > 0 else { return }
        if let last = self.last, last.flags == extent.flags {
            self[count - 1].length += extent.length
        } else {
            append(extent)
        }
    }
}
