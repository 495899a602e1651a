import Glibc
import RegistryCore

/// A `flock(2)` on the shard directory of a blob, `blobs/<alg>/<xx>`:
/// shared by whatever makes a blob or a repository's link to it appear (an
/// upload's commit with its link, a manifest's own blob, a mount), exclusive
/// for the collector while it removes a blob's directory, or the links to a
/// blob it deleted.
///
/// Why: without it the collector's removal of a blob's directory could take
/// a blob renamed into that directory a moment before (a push of the same
/// content), and its removal of the links of a deleted blob could take the
/// link a push had just written after storing the blob again: both would
/// lose something acknowledged with 201.
///
/// Why the shard and not the blob's own directory: the collector removes
/// that directory, and a lock on a removed directory protects nothing; a
/// shard is never removed. Writers only share shards, and the collector
/// holds one exclusively for one blob at a time, so nobody waits long.
///
/// Lock order: a blob's `data` lock (`BlobPin`, the collector's exclusive
/// one) before a shard, never the reverse. Nothing that holds a shard waits
/// for a `data` lock, so the two never deadlock.
///
/// Released when the value goes: end its life with `_ = consume lock` after
/// the last step it guards.
struct BlobShardLock: ~Copyable {
    private let directory: DurableFile

    init(_ digest: Digest, in layout: Layout, exclusive: Bool) throws(StorageError) {
        let path = layout.blobShard(digest)
        try Directory.create(path, below: layout.base, layout.durability)
        let file = try DurableFile(path: path, flags: O_RDONLY | O_DIRECTORY)
        while flock(file.descriptor, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            guard errno == EINTR else { throw .system(operation: "flock", path: path, errno: errno) }
        }
        directory = file
    }
}
