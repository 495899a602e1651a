import Glibc
import RegistryCore

/// A blob held against garbage collection while a manifest that references
/// it is being stored: a shared `flock(2)` on the blob's `data` file, which
/// the collector must take exclusively before it deletes the blob.
///
/// Why a lock on the file itself: it works across processes (`buse registry
/// gc` beside a running `serve`), and it dies with its holder (a crashed
/// push leaves no stale lock). Why re-check the path after locking: the
/// collector may have unlinked the file between our open and our lock, and
/// a lock on an unlinked file protects nothing. A class, so a manifest's
/// pins can sit in one array; the lock goes when the last reference does.
final class BlobPin {
    private let file: DurableFile

    /// Pins `digest`, or returns nil when the store does not have it (never
    /// had it, or the collector just removed it: the client pushes it again).
    init?(_ digest: Digest, in layout: Layout) throws(StorageError) {
        let path = layout.blobData(digest)
        guard let file = try DurableFile.openIfPresent(path) else { return nil }
        guard flock(file.descriptor, LOCK_SH) == 0 else { throw .system(operation: "flock", path: path, errno: errno) }
        guard try file.isStill(at: path) else { return nil }
        self.file = file
    }

    /// Marks the blob as just referenced: its modification time becomes now,
    /// so a collection that began before the reference keeps it (the
    /// collector re-reads the time under its exclusive lock).
    func touch() throws(StorageError) { try file.touch() }
}
