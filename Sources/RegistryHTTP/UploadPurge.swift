import Glibc
import Logging
import RegistryStorage

/// Removes upload sessions older than `timeToLive`, every `interval`, until
/// cancelled. Every POST creates a session and clients abandon many (a
/// push interrupted, a mount that fell back); without this they would fill
/// the volume.
///
/// Crash leftovers (`removeLeftovers`) are not removed here: while serving,
/// a temp file of a write in progress looks exactly like a leftover, so
/// storage allows that only at start-up (see `RegistryServer.run`).
struct UploadPurge: Sendable {
    let uploads: UploadStore
    let timeToLive: Duration
    let interval: Duration
    let pool: BlockingPool
    let logger: Logger

    /// A purge now; returns how many sessions went. Failures are logged, and
    /// the next round tries again.
    func once() async -> Int {
        let cutoff = Int64(time(nil)) - timeToLive.components.seconds
        let uploads = uploads
        do {
            let removed = try await pool.run { () throws(StorageError) in try uploads.purge(startedBefore: cutoff) }
            if removed > 0 { logger.info("purged \(removed) upload sessions older than \(timeToLive)") }
            return removed
        } catch {
            logger.error("upload purge failed: \(error)")
            return 0
        }
    }

    /// Purges now and then every `interval`; returns when cancelled.
    func run() async {
        while !Task.isCancelled {
            _ = await once()
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
