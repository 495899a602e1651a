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
public final class ReplicatedDevice: DeviceLayer {
    public let lower: any BlockDevice
    let folder: NodeFolder
    let journal: Journal
    let activity: ActivityLog
    let rangeLock = RangeLock()
    let options: ReplicationOptions
    let logger: Logger
    let shared: Mutex<Shared>

    enum Phase {
        case disconnected
        /// Greetings are being exchanged: writes are not sent yet, but the
        /// peer timeout covers the link.
        case connecting(PeerLink)
        case resyncing(PeerLink)
        case inSync(PeerLink)
        case refused(String, String)

        /// The link writes are sent on, if any.
        var link: PeerLink? {
            switch self {
            case let .resyncing(link), let .inSync(link): link
            default: nil
            }
        }

        /// The link being paired or replicated over, if any.
        var anyLink: PeerLink? {
            if case let .connecting(link) = self { return link }
            return link
        }
    }

    struct Shared {
        var volume: VolumeState
        var phase: Phase = .disconnected
        /// Writes in flight that were not sent to the peer (degraded).
        var unreplicatedInFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        /// Writes and flushes held by the suspend policy.
        var suspended: [CheckedContinuation<Bool, Never>] = []
        var closed = false
        /// Every sequence up to `watermark` has completed.
        var watermark: UInt64
        var completedAbove: Set<UInt64> = []
        var resyncDone: UInt64 = 0
        var resyncTotal: UInt64 = 0
        var writesReplicated: UInt64 = 0
        var writesDegraded: UInt64 = 0
        var timesInSync = 0
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
                logger.warning("replication: unclean shutdown; \(active.count) active region(s) will be resynced")
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
