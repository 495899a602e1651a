public import BlockDevices
public import DeviceLayers
import Journal
public import Logging
import Synchronization

/// The primary's side of synchronous replication: a layer over any device
/// that acknowledges a write, trim or zero only when the local device has it,
/// its record is in the transaction log, and the peer has acknowledged it
/// (DRBD's protocol C). FLUSH and FUA mean durable on both copies.
///
/// While the peer is away the ``DegradedPolicy`` decides: go on (the log
/// records what the peer misses, and a new generation starts before the
/// first such write is acknowledged), hold writes, or fail them. When the peer
/// connects (``run(_:)``), the two states decide whether to resync only what
/// the log marks, everything, or nothing (a refusal, such as split brain).
///
/// Ordering: overlapping writes are serialised by a ``RangeLock`` and sent
/// in the same order they are applied locally, so both copies end alike.
///
/// The pairing's lifecycle, and which of DRBD's names each concept here
/// corresponds to, are in ``Pairing``.
public final class ReplicatedDevice: DeviceLayer {
    public let lower: any BlockDevice
    let folder: NodeFolder
    let journal: Journal
    let activity: ActivityLog
    let rangeLock = RangeLock()
    let options: ReplicationOptions
    let logger: Logger
    let shared: Mutex<Shared>
    /// Hears that a record committed after its write returned failed: made
    /// once, since a closure literal capturing the logger was allocated at
    /// every replicated write.
    let detachedRecordFailed: @Sendable (JournalError, UInt64) -> Void
    /// Hears that trimming the log after a flush of both copies failed (the
    /// records stay, and are only resynced again), made once for the same reason.
    let trimFailed: @Sendable (JournalError, UInt64) -> Void

    struct Shared {
        var volume: VolumeState
        /// Where the pairing with the peer stands: the I/O code only feeds
        /// it events and carries out its actions.
        var pairing = Pairing()
        /// Callers waiting for the writes that bypassed the peer to end.
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        /// Writes and flushes held by the suspend policy.
        var suspended: [CheckedContinuation<Bool, Never>] = []
        /// Every sequence up to `watermark` has completed.
        var watermark: UInt64
        var completedAbove: Set<UInt64> = []
        var resyncDone: UInt64 = 0
        var resyncTotal: UInt64 = 0
        var writesReplicated: UInt64 = 0
        var writesDegraded: UInt64 = 0
        var peerFlushesSent: UInt64 = 0
        var peerFlushesAnswered: UInt64 = 0
        /// Why the connector's last attempt was refused before any pairing
        /// began (the peer failed authentication): shown by `buse status`
        /// until a connection gets through.
        var connectRefusal: (peer: String, reason: String)?
        /// The version (``NodeFolder/nextVersion()``) of the last change to
        /// `volume`, and the newest known to be on disk.
        var volumeVersion: UInt64 = 0
        var volumeVersionSaved: UInt64 = 0
        var random = SystemRandomNumberGenerator()
    }

    /// Opens `lower` as the primary of the volume whose state is in `folder`,
    /// creating the volume's identity on first use.
    public init(
        lower: any BlockDevice, folder: NodeFolder, options: ReplicationOptions = ReplicationOptions(),
        journalSettings: JournalSettings = JournalSettings(), logger: Logger
    ) async throws(ReplicationError) {
        self.lower = lower
        self.folder = folder
        self.options = options
        self.logger = logger
        detachedRecordFailed = { error, sequence in logger.error("replication: cannot log write \(sequence): \(error)") }
        trimFailed = { error, sequence in logger.error("replication: cannot trim the log through \(sequence): \(error)") }
        var random = SystemRandomNumberGenerator()
        var volume: VolumeState
        if let stored = try folder.loadState() {
            volume = stored
            guard volume.size == lower.size else {
                throw .state("the volume in \(folder.path) is \(volume.size) bytes but the device is \(lower.size)")
            }
            guard volume.role == .primary else {
                throw .state("the node in \(folder.path) is a secondary; run `buse promote` to make it the primary")
            }
        } else {
            volume = VolumeState(size: lower.size, role: .primary)
            volume.volumeID = VolumeState.newIdentifier(&random)
            volume.startGeneration(&random)
        }
        journal = try folder.openJournal(volumeSize: lower.size, settings: journalSettings)
        do {
            activity = try ActivityLog(journal: journal)
            if !volume.cleanShutdown {
                // A crash: what was in flight may be on one copy and not the other.
                let active = activity.activeRanges
                logger.warning("replication: unclean shutdown; \(activity.activeCount) active region(s) will be resynced")
                try await journal.markDirty(active)
            }
        } catch {
            throw .journal(error)
        }
        volume.cleanShutdown = false
        try folder.save(volume)
        let last = journal.lastSequence
        shared = Mutex(Shared(volume: volume, watermark: last))
    }
}
