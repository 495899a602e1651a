import Glibc
import RegistryCore

/// Online garbage collection: no read-only window, pushes and pulls go on.
///
/// Mark: every manifest revision of every repository, and every blob and
/// child manifest each references (config, layers, index children; a
/// referrer is a revision like any other). Sweep: every blob in the store
/// that is not marked and was last modified before `start - gracePeriod`.
///
/// Why a push racing the collector never loses a blob:
/// - a blob committed by an upload (not yet referenced: its manifest comes
///   next) is young, and the grace period keeps it;
/// - a manifest stored after the mark pins every blob it references, and
///   its own blob once written (`BlobPin`: a shared `flock` on the blob's
///   file), until its revision link is durable, and then touches them. The
///   sweep deletes a blob only under an exclusive `flock`, after reading
///   its modification time again: a blob a manifest referenced after the
///   collection began is newer than the cutoff and is kept; a blob deleted
///   first is missing when the manifest is checked, which answers
///   MANIFEST_BLOB_UNKNOWN and the client pushes the blob again. No
///   acknowledged manifest ever points at a deleted blob.
/// Last, the layer links of deleted blobs are removed from every
/// repository, so the root is left as fsck wants it (a link can only lose
/// its blob to the collector: an upload renames the blob into place before
/// it writes the link).
/// Untagged manifests are kept (as distribution keeps them by default);
/// delete them through the API to let the collector free their blobs.
public struct GarbageCollection: Sendable {
    public var gracePeriod: Duration = .seconds(3600)
    /// Report what would be deleted, delete nothing.
    public var dryRun = false

    public init(gracePeriod: Duration = .seconds(3600), dryRun: Bool = false) {
        self.gracePeriod = gracePeriod
        self.dryRun = dryRun
    }

    public struct Summary: Sendable, Equatable {
        public var repositories = 0
        public var manifests = 0
        public var blobsMarked = 0
        public var blobsSeen = 0
        /// Unreferenced, but within the grace period or referenced meanwhile.
        public var blobsKept = 0
        public var blobsDeleted = 0
        public var bytesFreed: UInt64 = 0
        /// Repositories' links to deleted blobs, removed with them.
        public var linksRemoved = 0
    }

    /// Where a collection is: `done` of `total` repositories (mark) or blobs (sweep).
    public struct Progress: Sendable {
        public enum Phase: String, Sendable { case mark, sweep }
        public let phase: Phase
        public let done: Int
        public let total: Int
    }

    /// Collects `store`; `afterMark` runs between the phases and `afterSweep`
    /// before the links of deleted blobs go (test hooks).
    public func run(
        _ store: RegistryStore, progress: (Progress) -> Void = { _ in }, afterMark: () -> Void = {}, afterSweep: () -> Void = {}
    ) throws(StorageError) -> Summary {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let cutoff = now.tv_sec - Int(gracePeriod.components.seconds)
        var summary = Summary()
        let marked = try mark(store, &summary, progress)
        afterMark()
        let deleted = try sweep(store, marked: marked, cutoff: cutoff, &summary, progress)
        afterSweep()
        try unlink(deleted, in: store, &summary)
        return summary
    }

    private func mark(
        _ store: RegistryStore, _ summary: inout Summary, _ progress: (Progress) -> Void
    ) throws(StorageError)
        -> Set<Digest>
    {
        var marked = Set<Digest>()
        let names = try store.repositories()
        for (index, text) in names.enumerated() {
            guard let name = try? RepositoryName(validating: text) else { continue }
            let repository = store.repository(name)
            for digest in try repository.manifestDigests() {
                summary.manifests += 1
                marked.insert(digest)
                guard let manifest = try repository.manifestIfPresent(digest)?.manifest else { continue }
                for blob in manifest.referencedBlobs { marked.insert(blob.digest) }
                for child in manifest.manifests { marked.insert(child.digest) }
            }
            summary.repositories += 1
            progress(Progress(phase: .mark, done: index + 1, total: names.count))
        }
        summary.blobsMarked = marked.count
        return marked
    }

    /// Deletes what is not marked and old enough; returns what it deleted.
    private func sweep(
        _ store: RegistryStore, marked: Set<Digest>, cutoff: Int, _ summary: inout Summary, _ progress: (Progress) -> Void
    ) throws(StorageError) -> Set<Digest> {
        var deleted = Set<Digest>()
        let digests = try store.blobs.all()
        for (index, digest) in digests.enumerated() {
            summary.blobsSeen += 1
            defer { progress(Progress(phase: .sweep, done: index + 1, total: digests.count)) }
            guard !marked.contains(digest) else { continue }
            switch try store.blobs.deleteIfOlder(digest, than: cutoff, dryRun: dryRun) {
            case .deleted(let bytes):
                summary.blobsDeleted += 1
                summary.bytesFreed += bytes
                deleted.insert(digest)
            case .kept:
                summary.blobsKept += 1
            case .gone:
                break
            }
        }
        return deleted
    }

    /// Removes every repository's layer link to a deleted blob (none in a dry run).
    private func unlink(_ deleted: Set<Digest>, in store: RegistryStore, _ summary: inout Summary) throws(StorageError) {
        guard !deleted.isEmpty else { return }
        for text in try store.repositories() {
            guard let name = try? RepositoryName(validating: text) else { continue }
            let repository = store.repository(name)
            for digest in try repository.layerDigests() where deleted.contains(digest) {
                guard !dryRun else {
                    summary.linksRemoved += 1
                    continue
                }
                // A push may have stored the blob again since the sweep and
                // linked it here: that link stays. The shard, held exclusively,
                // keeps such a push from landing between the check and the removal.
                let shard = try BlobShardLock(digest, in: store.layout, exclusive: true)
                if !store.blobs.hasData(digest) {
                    summary.linksRemoved += 1
                    try repository.unlinkLayer(digest)
                }
                _ = consume shard
            }
        }
    }
}
