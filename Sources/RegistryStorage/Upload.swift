public import RegistryCore

/// One upload session opened by one request: the partial blob's file (held
/// under an exclusive `flock`, so two requests never append to one upload),
/// its size, and the running SHA-256 of what it holds.
///
/// Appends stream: each chunk is written where it lands and hashed, nothing
/// is buffered. Hand the upload back with `UploadStore.suspend` (after a
/// PATCH) or `UploadStore.finish` (the final PUT); dropping it just closes
/// the file, and the next open re-hashes from disk.
public struct Upload: ~Copyable, Sendable {
    public let name: RepositoryName
    public let id: UploadID
    /// Bytes received so far; the next chunk must start here.
    public private(set) var size: UInt64
    let file: DurableFile
    var hasher: ContentHasher
    let sizeMaximum: UInt64
    /// Where writeback was last started: behind `size` by less than
    /// ``writebackInterval``.
    private var writebackStart: UInt64

    /// Every this many bytes appended, their writeback starts (see `append`).
    static let writebackInterval: UInt64 = 8 << 20

    init(name: RepositoryName, id: UploadID, file: consuming DurableFile, size: UInt64, hasher: ContentHasher, sizeMaximum: UInt64) {
        self.name = name
        self.id = id
        self.file = file
        self.size = size
        self.hasher = hasher
        self.sizeMaximum = sizeMaximum
        writebackStart = size
    }

    /// Writes a chunk at the current end and hashes it. Refused, with nothing
    /// written, when it would grow the upload past the size limit.
    public mutating func append(_ chunk: UnsafeRawBufferPointer) throws(StorageError) {
        // `size` may already exceed a limit lowered since the upload began.
        guard size <= sizeMaximum, UInt64(chunk.count) <= sizeMaximum - size else { throw .uploadTooLarge(limit: sizeMaximum) }
        try file.write(chunk, at: size)
        hasher.update(chunk)
        size += UInt64(chunk.count)
        // A blob is acknowledged only once fsynced: writing it back while it
        // streams in, rather than all at the final PUT, shortens the wait
        // between the last byte and the 201.
        if size - writebackStart >= Self.writebackInterval {
            file.startWriteback(at: writebackStart, length: size - writebackStart)
            writebackStart = size
        }
    }

    public mutating func append(_ chunk: [UInt8]) throws(StorageError) {
        try chunk.withUnsafeBytes { buffer in
            Result { () throws(StorageError) in try append(buffer) }
        }.get()
    }
}
