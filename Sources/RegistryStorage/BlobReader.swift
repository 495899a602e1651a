import Glibc

/// An open blob: its size and positional reads, for serving GET with or
/// without a range. Reads block; the descriptor closes when this is dropped.
public struct BlobReader: ~Copyable, Sendable {
    let file: DurableFile
    public let size: UInt64

    init(file: consuming DurableFile) throws(StorageError) {
        self.size = try file.size()
        self.file = file
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(StorageError) -> Int {
        try file.read(into: buffer, at: offset)
    }

    /// Up to `length` bytes at `offset`, as a new array (convenient for
    /// chunked responses; use `read(into:at:)` to reuse a buffer).
    public func read(at offset: UInt64, length: Int) throws(StorageError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        let count = try file.read(into: &bytes, range: 0..<length, at: offset)
        bytes.removeSubrange(count...)
        return bytes
    }
}
