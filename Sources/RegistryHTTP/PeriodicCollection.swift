import Logging
import RegistryStorage

/// `buse registry serve --gc-interval`: online garbage collection inside the
/// server, every `interval`, until cancelled. The same collection as `buse
/// registry gc` (no read-only window; see `GarbageCollection`), on the
/// blocking pool, one at a time; each run logs one summary line at info.
struct PeriodicCollection: Sendable {
    let store: RegistryStore
    let collection: GarbageCollection
    let interval: Duration
    let pool: BlockingPool
    let logger: Logger
    /// `--metrics`: each run and the bytes it freed are counted.
    let metrics: RegistryMetrics?

    /// One collection now; failures are logged, and the next round tries again.
    func once() async {
        let (store, collection) = (store, collection)
        do {
            let summary = try await pool.run { () throws(StorageError) in try collection.run(store) }
            let marked = "\(summary.manifests) manifests in \(summary.repositories) repositories, \(summary.blobsMarked) blobs referenced"
            let swept = "deleted \(summary.blobsDeleted) of \(summary.blobsSeen) blobs (\(summary.bytesFreed) bytes freed)"
            let kept = "kept \(summary.blobsKept) unreferenced within \(collection.gracePeriod)"
            logger.info("gc: \(marked); \(swept), \(kept); \(summary.linksRemoved) links removed")
            metrics?.collected(bytesFreed: summary.bytesFreed, blobsDeleted: summary.blobsDeleted)
        } catch {
            metrics?.collectionFailed()
            logger.error("gc failed: \(error)")
        }
    }

    /// Collects every `interval`, the first time one interval after start;
    /// returns when cancelled.
    func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            await once()
        }
    }
}
