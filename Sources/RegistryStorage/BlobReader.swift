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

    /// A new descriptor for the same open file (`F_DUPFD_CLOEXEC`), owned by
    /// the caller: for sending the blob with `sendfile(2)` on a connection
    /// whose writes outlive this reader. It reads the same inode even after
    /// the blob is deleted or collected.
    public func duplicateDescriptor() throws(StorageError) -> Int32 {
        let duplicate = fcntl(file.descriptor, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0 else { throw .system(operation: "fcntl(F_DUPFD_CLOEXEC)", path: file.path, errno: errno) }
        return duplicate
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
