/// What a copy did, in bytes of the source. Every byte of the source was
/// either written to the destination, zeroed there, or left as it was
/// because it reads as zeros and the destination already did (``bytesSkipped``).
public struct CopyReport: Sendable, Equatable {
    /// The bytes covered: the source's size once the copy has finished.
    public var length: UInt64 = 0
    /// Bytes read from the source; the rest was unallocated there (block
    /// status said it reads as zeros) and never read.
    public var bytesRead: UInt64 = 0
    /// Bytes written to the destination.
    public var bytesWritten: UInt64 = 0
    /// Bytes the destination was asked to zero (only when it was not blank).
    public var bytesZeroed: UInt64 = 0

    public init() {}

    /// Bytes neither written nor zeroed: holes that stayed holes.
    public var bytesSkipped: UInt64 { length - bytesWritten - bytesZeroed }

    mutating func add(_ other: CopyReport) {
        length += other.length
        bytesRead += other.bytesRead
        bytesWritten += other.bytesWritten
        bytesZeroed += other.bytesZeroed
    }
}
