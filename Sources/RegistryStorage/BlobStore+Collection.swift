import Glibc
import RegistryCore

extension BlobStore {
    /// Every blob in the store (a `blobs/<alg>/<xx>/<hex>` directory whose
    /// name is a valid digest of its algorithm and prefix).
    func all() throws(StorageError) -> [Digest] {
        var digests: [Digest] = []
        for algorithm in DigestAlgorithm.allCases {
            let top = layout.blobs + "/" + algorithm.rawValue
            for prefix in try Directory.entries(top) where prefix.isDirectory {
                for entry in try Directory.entries(top + "/" + prefix.name) where entry.isDirectory {
                    guard entry.name.hasPrefix(prefix.name), let digest = try? Digest(parsing: algorithm.rawValue + ":" + entry.name)
                    else { continue }
                    digests.append(digest)
                }
            }
        }
        return digests
    }

    enum Collected: Equatable {
        case deleted(bytes: UInt64)
        case kept
        /// Nothing there (removed meanwhile, or a directory without data).
        case gone
    }

    /// Deletes the blob if its file was last modified before `cutoff`
    /// (seconds since the epoch), deciding under an exclusive `flock` that a
    /// manifest being stored (its `BlobPin`) would hold shared: see
    /// `GarbageCollection` for why this keeps every blob a push relies on.
    ///
    /// The removal itself happens under the blob's shard held exclusively
    /// (`BlobShardLock`), so no push is renaming the same content into the
    /// directory being removed.
    ///
    /// Sync order: `unlink` of `data` → `fsync` of the blob's directory's
    /// parent after the directory is removed.
    func deleteIfOlder(_ digest: Digest, than cutoff: Int, dryRun: Bool) throws(StorageError) -> Collected {
        let path = layout.blobData(digest)
        guard let file = try DurableFile.openIfPresent(path) else { return .gone }
        guard flock(file.descriptor, LOCK_EX) == 0 else { throw .system(operation: "flock", path: path, errno: errno) }
        guard try file.isStill(at: path) else { return .gone }
        var status = stat()
        guard fstat(file.descriptor, &status) == 0 else { throw .system(operation: "fstat", path: path, errno: errno) }
        guard status.st_mtim.tv_sec < cutoff else { return .kept }
        let bytes = UInt64(status.st_size)
        if dryRun { return .deleted(bytes: bytes) }
        let shard = try BlobShardLock(digest, in: layout, exclusive: true)
        try Directory.removeFile(path)
        let directory = layout.blobDirectory(digest)
        try? Directory.removeTree(directory)
        try layout.durability.sync(LinkFile.parent(of: directory))
        _ = consume shard
        _ = consume file
        return .deleted(bytes: bytes)
    }
}

extension BlobStore {
    /// Whether the blob's `data` file exists.
    func hasData(_ digest: Digest) -> Bool { Directory.exists(layout.blobData(digest)) }

    /// The digest of the blob's content, with the algorithm its name uses.
    func hash(_ digest: Digest) throws(StorageError) -> Digest {
        let file = try DurableFile(path: layout.blobData(digest), flags: O_RDONLY)
        var hasher = ContentHasher(digest.algorithm)
        try hasher.update(from: file, length: try file.size())
        return hasher.digest()
    }
}
