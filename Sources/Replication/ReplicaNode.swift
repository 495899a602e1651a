public import BlockDevices
import Journal
public import Logging
import Synchronization

/// The secondary's side: receives a primary's replication stream into a
/// local device (any device). One primary at a time; a second is refused.
///
/// Frames are applied concurrently, but overlapping ones in arrival order
/// (a ``RangeLock`` entry is taken as each frame arrives), and each is
/// acknowledged once the device has it; the activity log marks its region
/// first, so that after a crash of this node the primary resyncs whatever it
/// may have lost. Before the greeting nothing is written, and frames that
/// break the protocol end the connection with a refusal.
public final class ReplicaNode: Sendable {
    /// The local device that holds the copy.
    public let device: any BlockDevice
    let folder: NodeFolder
    let journal: Journal
    let activity: ActivityLog
    let rangeLock = RangeLock()
    let logger: Logger
    let executor: (any TaskExecutor)?
    let nodeName: String
    private let shared: Mutex<Shared>
    /// Frames applied, for the status: counted apart from `shared`, so that
    /// no frame takes that lock.
    private let framesApplied = Atomic<UInt64>(0)

    /// Changes to `volume` are saved under this lock, fsync included: what
    /// ``admit(_:from:)`` answers a primary with, and `buse status` shows,
    /// is then never ahead of state.json. That costs nothing per frame: only
    /// greetings, the start and end of a resync, and close take the lock.
    struct Shared {
        var volume: VolumeState
        var primary: String?
        /// Ranges this node may hold differently from its primary, reported in its greeting.
        var crashDirty: [Range<UInt64>]
        /// The current primary has completed a resync into this node.
        var synced = false
    }

    public init(
        device: any BlockDevice, folder: NodeFolder, journalSettings: JournalSettings = JournalSettings(),
        executor: (any TaskExecutor)? = nil, nodeName: String = "buse", logger: Logger
    ) async throws(ReplicationError) {
        self.device = device
        self.folder = folder
        self.logger = logger
        self.executor = executor
        self.nodeName = nodeName
        var volume = try folder.loadState() ?? VolumeState(size: device.size, role: .secondary)
        guard volume.size == device.size else {
            throw .state("the volume in \(folder.path) is \(volume.size) bytes but the device is \(device.size)")
        }
        if volume.role == .primary {
            logger.notice("replication: \(folder.path) was a primary; it rejoins as a secondary")
        }
        volume.role = .secondary
        journal = try folder.openJournal(volumeSize: device.size, settings: journalSettings)
        var crashDirty: [Range<UInt64>] = []
        do {
            activity = try ActivityLog(journal: journal)
            // As a former primary, its log lists writes the other side may lack.
            crashDirty = try journal.dirtyRanges()
            if !volume.cleanShutdown { crashDirty += activity.activeRanges }
        } catch {
            throw .journal(error)
        }
        volume.cleanShutdown = false
        try folder.save(volume)
        shared = Mutex(Shared(volume: volume, crashDirty: crashDirty))
    }

    public var volume: VolumeState { shared.withLock { $0.volume } }
    public var primaryName: String? { shared.withLock { $0.primary } }

    /// Serves one primary until the channel ends; returns why it ended.
    public func serve(_ channel: any ReplicationChannel) async -> ReplicationError {
        let session = ReplicaSession(node: self, channel: channel)
        return await session.run()
    }

    /// Called by a session when its greeting arrives: admits it as the one
    /// primary, or says why not.
    func admit(_ greeting: Greeting, from channel: any ReplicationChannel) -> Result<Greeting, ReplicationError> {
        shared.withLock { shared in
            if let primary = shared.primary {
                return .failure(.refused("this replica already replicates from \(primary); a volume has one primary"))
            }
            let mine = shared.volume
            if greeting.state.size != mine.size {
                return .failure(.refused("volume size differs: the primary's is \(greeting.state.size) bytes, this replica's \(mine.size)"))
            }
            if mine.volumeID != 0, greeting.state.volumeID != mine.volumeID {
                return .failure(
                    .refused(
                        "this replica holds another volume (id \(String(mine.volumeID, radix: 16)), the primary's is "
                            + "\(String(greeting.state.volumeID, radix: 16))); run `buse discard-my-data` here to take the primary's"))
            }
            if greeting.state.role != .primary {
                return .failure(.refused("the connecting node is not a primary"))
            }
            shared.primary = "\(greeting.node) (\(channel.peerName))"
            shared.synced = false
            return .success(Greeting(state: mine, dirty: shared.crashDirty, node: nodeName))
        }
    }

    func release() {
        shared.withLock { shared in
            shared.primary = nil
            shared.synced = false
        }
    }

    func beginResync(_ plan: ResyncPlan) throws(ReplicationError) {
        try shared.withLock { shared throws(ReplicationError) in
            var volume = shared.volume
            volume.consistent = false
            if plan.full || volume.volumeID == 0 {
                volume.volumeID = plan.volume.volumeID
                volume.generation = plan.volume.generation
                volume.history = []
            }
            try folder.save(volume)
            shared.volume = volume
        }
    }

    /// The resync is complete: flush, take the primary's generation, forget
    /// the ranges that were reported dirty.
    func finishResync(_ primary: VolumeState) async throws(ReplicationError) {
        do { try await device.flush() } catch { throw .device(error) }
        do { try await journal.clearDirty(below: device.size, throughSequence: .max) } catch { throw .journal(error) }
        try shared.withLock { shared throws(ReplicationError) in
            var volume = shared.volume
            volume.generation = primary.generation
            volume.history = primary.history
            volume.volumeID = primary.volumeID
            volume.consistent = true
            try folder.save(volume)
            shared.volume = volume
            shared.crashDirty = []
            shared.synced = true
        }
        logger.info("replication: in sync with the primary at generation \(String(primary.generation, radix: 16))")
    }

    func noteApplied() { framesApplied.wrappingAdd(1, ordering: .relaxed) }

    /// Flushes the device and marks a clean shutdown.
    public func close() async {
        do { try await device.flush() } catch { logger.error("replication: flush at close failed: \(error)") }
        do { try await journal.close() } catch { logger.error("replication: log close failed: \(error)") }
        do {
            try shared.withLock { shared throws(ReplicationError) in
                shared.volume.cleanShutdown = true
                try folder.save(shared.volume)
            }
        } catch {
            logger.error("replication: cannot record the clean shutdown: \(error)")
        }
        do { try await device.close() } catch { logger.error("replication: device close failed: \(error)") }
        folder.unlock()
    }

    public var status: ReplicationStatus {
        shared.withLock { shared in
            ReplicationStatus(
                role: .secondary, volumeID: shared.volume.volumeID, generation: shared.volume.generation,
                history: shared.volume.history, consistent: shared.volume.consistent, peer: shared.primary,
                peerState: shared.primary == nil ? .disconnected : (shared.synced ? .inSync : .resyncing),
                refusal: nil, policy: nil, lagOperations: 0, lagBytes: 0, dirtyBytes: 0, resyncDone: 0, resyncTotal: 0,
                writesReplicated: framesApplied.load(ordering: .relaxed), writesDegraded: 0)
        }
    }
}
