import Glibc
public import RegistryCore

/// The global content-addressed blob store: `blobs/<alg>/<xx>/<hex>/data`.
///
/// A blob is only ever created by renaming a complete, verified, synced file
/// into place, so a `data` file that exists is always whole and correct.
/// Repositories reach blobs through their links; this type does not know
/// about repositories. All calls block (file I/O): run them on a thread pool.
public struct BlobStore: Sendable {
    let layout: Layout

    init(layout: Layout) {
        self.layout = layout
    }

    /// The blob's size, or nil when the store does not have it.
    public func size(of digest: Digest) throws(StorageError) -> UInt64? {
        var status = stat()
        let path = layout.blobData(digest)
        guard stat(path, &status) == 0 else {
            guard errno == ENOENT || errno == ENOTDIR else { throw .system(operation: "stat", path: path, errno: errno) }
            return nil
        }
        return UInt64(status.st_size)
    }

    /// Opens a blob for reading; the reader knows its size.
    public func open(_ digest: Digest) throws(StorageError) -> BlobReader {
        guard let file = try DurableFile.openIfPresent(layout.blobData(digest)) else { throw .blobUnknown(digest) }
        return try BlobReader(file: file)
    }

    /// The whole blob, for manifests (bounded by `limit`).
    func read(_ digest: Digest, limit: Int) throws(StorageError) -> [UInt8] {
        let reader = try open(digest)
        return try reader.file.readAll(limit: limit)
    }

    /// ``put(_:algorithm:)``, and the stored blob pinned (``BlobPin``) for the
    /// caller. Stored again if a collection deleted it before the pin took
    /// hold (it was written before the collection began, so it looked old).
    func putPinned(_ bytes: [UInt8], algorithm: DigestAlgorithm) throws(StorageError) -> (Digest, BlobPin) {
        while true {
            let digest = try put(bytes, algorithm: algorithm)
            if let pin = try BlobPin(digest, in: layout) { return (digest, pin) }
        }
    }

    /// Stores small content (a manifest) under its digest and returns it.
    ///
    /// Sync order: blob directory created (parents synced) → temp file
    /// written and `fsync`ed → `rename` to `data` → `fsync` of the blob
    /// directory. Content that is already there is only touched (pinned
    /// first, as `BlobPin` says), so that a collection that began before
    /// this call and did not see it referenced keeps it: an unreferenced
    /// manifest pushed again must not go the moment it is acknowledged.
    func put(_ bytes: [UInt8], algorithm: DigestAlgorithm) throws(StorageError) -> Digest {
        let digest = ContentHasher.digest(of: bytes, algorithm: algorithm)
        if let pin = try BlobPin(digest, in: layout) {
            try pin.touch()
            return digest
        }
        // Shared: the collector must not remove the directory we write into.
        let shard = try BlobShardLock(digest, in: layout, exclusive: false)
        let directory = layout.blobDirectory(digest)
        try Directory.create(directory, below: layout.base, layout.durability)
        let temporary = directory + "/.tmp-data-" + String(UInt64.random(in: .min ... .max), radix: 16)
        do throws(StorageError) {
            let file = try DurableFile(path: temporary, flags: O_WRONLY | O_CREAT | O_EXCL)
            try file.write(bytes, at: 0)
            try file.sync()
            try Directory.rename(temporary, to: layout.blobData(digest))
        } catch {
            _ = try? Directory.removeFile(temporary)
            throw error
        }
        try layout.durability.sync(directory)
        _ = consume shard
        return digest
    }

    /// Moves a complete, synced, verified file (an upload's `data`) into the
    /// store under `digest`. The file must be on the same filesystem, and
    /// the caller holds the blob's shard (`BlobShardLock`) shared.
    ///
    /// Sync order: the caller has `fsync`ed the file → blob directory created
    /// (parents synced) → `rename` into place → `fsync` of the blob directory.
    /// If the blob already exists, the rename replaces identical content,
    /// which makes a retried commit idempotent.
    func adopt(file path: String, as digest: Digest) throws(StorageError) {
        let directory = layout.blobDirectory(digest)
        try Directory.create(directory, below: layout.base, layout.durability)
        try Directory.rename(path, to: layout.blobData(digest))
        try layout.durability.sync(directory)
    }

    /// Removes a blob from the store (for garbage collection: nothing checks
    /// here whether a repository still links it). Removal is made durable.
    public func delete(_ digest: Digest) throws(StorageError) {
        guard try LinkFile.remove(layout.blobData(digest), layout.durability) else { throw .blobUnknown(digest) }
        try? Directory.removeTree(layout.blobDirectory(digest))
    }
}
