import Glibc
public import RegistryCore

extension UploadStore {
    /// Completes an upload as the blob `expected`: verifies the digest, moves
    /// the file into the blob store and removes the session. Returns the size.
    ///
    /// On a digest mismatch the session is cancelled, as distribution does,
    /// and nothing becomes visible in the blob store.
    ///
    /// The file is touched first: a blob is young when it is committed, even
    /// if its last chunk came long ago, so the collector's grace period keeps
    /// it until the manifest that references it comes.
    ///
    /// Sync order: upload `data` touched and `fsync`ed → renamed into the blob store and
    /// the blob directory synced (`BlobStore.adopt`) → session directory
    /// removed (unsynced: a leftover session is only garbage for `purge`).
    /// Linking the blob into the repository is the caller's next, separate
    /// durable step (`Repository.linkLayer`), in `link`: it runs with the
    /// blob's shard held shared from the rename on (`BlobShardLock`), so the
    /// collector can remove neither the new blob's directory nor its link in
    /// between. A mismatch takes no lock and creates nothing in the store.
    public func finish(
        _ upload: consuming Upload, as expected: Digest, link: (Digest) throws(StorageError) -> Void = { _ in }
    ) throws(StorageError) -> UInt64 {
        let (name, id, size) = (upload.name, upload.id, upload.size)
        try upload.file.touch()
        try upload.file.sync()
        var actual = upload.hasher.digest()
        if expected.algorithm != actual.algorithm {
            var hasher = ContentHasher(expected.algorithm)
            try hasher.update(from: upload.file, length: size)
            actual = hasher.digest()
        }
        guard actual == expected else {
            try? remove(name, id)
            throw .digestMismatch(expected: expected, actual: actual)
        }
        let shard = try BlobShardLock(expected, in: layout, exclusive: false)
        try blobs.adopt(file: layout.uploadData(name, id), as: expected)
        try remove(name, id)
        // The lock is held until the session is gone (see `lockedData`).
        _ = consume upload
        try link(expected)
        _ = consume shard
        return size
    }

    /// Removes sessions started before `cutoff` (seconds since the epoch),
    /// in every repository; returns how many. A `startedat` that cannot be
    /// read as RFC 3339 counts as started at the epoch, so damaged sessions
    /// are purged too. A session a request is appending to right now (its
    /// lock is held) is left for the next purge.
    public func purge(startedBefore cutoff: Int64) throws(StorageError) -> Int {
        var removed = 0
        try forEachUploadsDirectory(layout.repositories) { (uploads: String) throws(StorageError) in
            for entry in try Directory.entries(uploads) where entry.isDirectory {
                let session = uploads + "/" + entry.name
                let started = try LinkFile.read(session + "/startedat").flatMap(RFC3339.parse) ?? 0
                guard started < cutoff else { continue }
                // Hold the data file's lock while removing, as cancel does.
                let data = try? DurableFile(path: session + "/data", flags: O_RDWR)
                if let locked = try data?.lockExclusively(), !locked { continue }
                try Directory.removeTree(session)
                removed += 1
            }
        }
        return removed
    }

    /// Walks the repositories tree and calls `body` with each `_uploads`
    /// directory; other `_` directories are not entered.
    private func forEachUploadsDirectory(
        _ directory: String, _ body: (String) throws(StorageError) -> Void
    ) throws(StorageError) {
        for entry in try Directory.entries(directory) where entry.isDirectory {
            let path = directory + "/" + entry.name
            if entry.name == "_uploads" {
                try body(path)
            } else if !entry.name.hasPrefix("_") {
                try forEachUploadsDirectory(path, body)
            }
        }
    }
}
