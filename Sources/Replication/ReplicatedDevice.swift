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

    // MARK: Client operations

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        let checksum = CRC32C.checksum(data)
        let header = FrameHeader(.write, flags: fua ? .fua : [], offset: offset, length: UInt32(data.count), checksum: checksum, payloadLength: UInt32(data.count))
        try await replicate(offset..<(offset + UInt64(data.count)), header, data) { () async throws(DeviceError) in
            try await self.lower.write(data, at: offset, fua: fua)
        }
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        for piece in Self.pieces(offset, length) {
            let header = FrameHeader(.trim, flags: fua ? .fua : [], offset: piece.lowerBound, length: UInt32(piece.count))
            try await replicate(piece, header, UnsafeRawBufferPointer(start: nil, count: 0)) { () async throws(DeviceError) in
                try await self.lower.trim(at: piece.lowerBound, length: UInt64(piece.count), fua: fua)
            }
        }
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        for piece in Self.pieces(offset, length) {
            var flags: FrameFlags = options.contains(.fua) ? .fua : []
            if !options.contains(.mayTrim) { flags.insert(.noHole) }
            let header = FrameHeader(.zero, flags: flags, offset: piece.lowerBound, length: UInt32(piece.count))
            try await replicate(piece, header, UnsafeRawBufferPointer(start: nil, count: 0)) { () async throws(DeviceError) in
                try await self.lower.zero(at: piece.lowerBound, length: UInt64(piece.count), options: options)
            }
        }
    }

    /// Trims and zeroes longer than a frame's 32-bit length go as several.
    static func pieces(_ offset: UInt64, _ length: UInt64) -> [Range<UInt64>] {
        let limit: UInt64 = 1 << 30
        return stride(from: offset, to: offset + length, by: Int(limit)).map { $0..<min($0 + limit, offset + length) }
    }

    public func flush() async throws(DeviceError) {
        let mark = activity.flushMark()
        let (watermark, phase) = shared.withLock { ($0.watermark, $0.phase) }
        let link = phase.link
        async let peerFlush = link?.request(FrameHeader(.flush, tag: link?.makeTag() ?? 0))
        let local = await attempt { () async throws(DeviceError) in try await lower.flush() }
        let remote = await peerFlush
        try local.get()
        switch remote {
        case .success:
            // Both copies hold every write completed before this flush: their
            // records and activity marks can go (only once in sync: during a
            // resync the log still describes what the resync must copy).
            if case .inSync = phase {
                do {
                    try await journal.acknowledge(through: watermark)
                    try await activity.cool(after: mark)
                } catch {
                    logger.error("replication: cannot trim the log: \(error)")
                }
            }
        case .failure, .none:
            try await degraded("flush", diverges: false)
        }
    }

    public func close() async throws(DeviceError) {
        let (waiters, drains, link) = shared.withLock { shared in
            shared.closed = true
            defer { shared.suspended = []; shared.drainWaiters = [] }
            return (shared.suspended, shared.drainWaiters, shared.phase.anyLink)
        }
        for waiter in waiters { waiter.resume(returning: false) }
        for waiter in drains { waiter.resume() }
        var failure: DeviceError?
        do { try await flush() } catch { failure = error }
        link?.fail(.linkLost("the primary is shutting down"))
        do {
            try await journal.close()
            try shared.withLock { shared throws(ReplicationError) in
                shared.volume.cleanShutdown = true
                try folder.save(shared.volume)
            }
        } catch {
            logger.error("replication: unclean close: \(error)")
        }
        do { try await lower.close() } catch { failure = failure ?? error }
        folder.unlock()
        if let failure { throw failure }
    }

    // MARK: The replicated write path

    private func replicate(
        _ range: Range<UInt64>, _ header: FrameHeader, _ data: UnsafeRawBufferPointer,
        local: () async throws(DeviceError) -> Void
    ) async throws(DeviceError) {
        // Without a peer, the policy may hold or refuse the write before it
        // takes any lock (a held write must not block the resync that ends
        // the wait).
        if options.policy != .continue, shared.withLock({ $0.phase.link == nil }) {
            try await degraded("write", diverges: true)
        }
        let replicated = try await replicateLocked(range, header, data, local: local)
        if replicated {
            shared.withLock { $0.writesReplicated += 1 }
        } else {
            try await degraded("write", diverges: true)
            shared.withLock { $0.writesDegraded += 1 }
        }
    }

    /// Writes locally, logs and sends to the peer under the range lock;
    /// true when the peer acknowledged, false when it could not be reached.
    private func replicateLocked(
        _ range: Range<UInt64>, _ header: FrameHeader, _ data: UnsafeRawBufferPointer,
        local: () async throws(DeviceError) -> Void
    ) async throws(DeviceError) -> Bool {
        let ticket = rangeLock.enqueue(range)
        await rangeLock.wait(ticket)
        defer { rangeLock.release(ticket) }
        do {
            try await activity.begin(range)
        } catch {
            throw DeviceError(.io, "transaction log: \(error)")
        }
        defer { activity.end(range) }
        let sequence = journal.reserveSequence()
        defer { complete(sequence) }
        let (link, generation) = shared.withLock { shared in
            if shared.phase.link == nil { shared.unreplicatedInFlight += 1 }
            return (shared.phase.link, shared.volume.generation)
        }
        defer { if link == nil { finishUnreplicated() } }
        var frame = header
        frame.tag = sequence
        let record = JournalRecord(sequence: sequence, offset: range.lowerBound, length: UInt32(range.count), checksum: header.checksum, generation: generation)
        // Peer first (sent on this thread), then the local write, then the
        // wait for the peer: the two writes overlap with no task between.
        let remote = link?.begin(frame, data: data)
        let written = await attempt(local)
        let remoteResult = await remote?.answer()
        if case let .failure(error) = written {
            // The peer may hold what this disk refused: make the region dirty
            // and drop the link, so the reconnection's resync puts both alike.
            try? await journal.markDirty([range])
            link?.fail(.linkLost("the local device failed a write: \(error.message)"))
            throw error
        }
        let replicated = if case .success = remoteResult { true } else { false }
        if replicated {
            // The peer holds it: the record only has to be committed in
            // order with the log's other requests, not before this returns.
            journal.appendDetached(record) { [logger] error in logger.error("replication: cannot log write \(sequence): \(error)") }
        } else {
            // Written without the peer: the record is what remembers that
            // the peer lacks it, so it must be committed first.
            do { try await journal.append(record) } catch { throw DeviceError(.io, "transaction log: \(error)") }
        }
        if sequence % foldInterval == 0 { await keepLogBounded() }
        return replicated
    }

    /// How often the bound is checked: the log holds at most `recordLimit`
    /// plus this many records (an eighth of the limit, at most 256).
    var foldInterval: UInt64 { UInt64(max(1, min(256, journal.limits.recordLimit / 8))) }

    /// Past the record bound, the oldest records fold into the region bitmap
    /// (checked every ``foldInterval`` writes; the count is O(1)). Not while a resync
    /// runs: it clears bitmap regions as it copies them, and a fold then
    /// could mark a region it has already passed.
    private func keepLogBounded() async {
        let resyncing = shared.withLock { if case .resyncing = $0.phase { true } else { false } }
        guard !resyncing else { return }
        do {
            try await journal.enforceBound()
        } catch {
            logger.error("replication: cannot fold the log into its bitmap: \(error)")
        }
    }

    /// A write or flush could not reach the peer: apply the policy. Returns
    /// when the operation may be acknowledged.
    private func degraded(_ operation: String, diverges: Bool) async throws(DeviceError) {
        switch options.policy {
        case .continue:
            if diverges { try diverge() }
        case .fail:
            throw DeviceError(.io, "\(operation) refused: the replication peer is unreachable (policy fail)")
        case .suspend:
            let resumed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let ready = shared.withLock { shared -> Bool? in
                    if shared.closed { return false }
                    if case .inSync = shared.phase { return true }
                    shared.suspended.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
            guard resumed else { throw DeviceError(.shutdown, "\(operation) held for the peer, and the service is stopping") }
        }
    }

    /// Before the first write the peer does not follow is acknowledged, this
    /// copy starts a new generation (durably), so that on reconnection the
    /// two sides can tell who is ahead and whether both changed.
    private func diverge() throws(DeviceError) {
        do {
            try shared.withLock { shared throws(ReplicationError) in
                guard shared.volume.generation == shared.volume.peerGeneration, shared.volume.peerGeneration != 0 else { return }
                var volume = shared.volume
                volume.startGeneration(&shared.random)
                try folder.save(volume)
                shared.volume = volume
                logger.warning("replication: writing without the peer; new generation \(String(volume.generation, radix: 16))")
            }
        } catch {
            throw DeviceError(.io, "cannot record the new generation: \(error)")
        }
    }

    private func complete(_ sequence: UInt64) {
        shared.withLock { shared in
            shared.completedAbove.insert(sequence)
            while shared.completedAbove.remove(shared.watermark + 1) != nil { shared.watermark += 1 }
        }
    }

    private func finishUnreplicated() {
        let waiters = shared.withLock { shared -> [CheckedContinuation<Void, Never>] in
            shared.unreplicatedInFlight -= 1
            guard shared.unreplicatedInFlight == 0 else { return [] }
            defer { shared.drainWaiters = [] }
            return shared.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until no write that bypassed the peer is still in flight.
    func drainUnreplicated() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { shared -> Bool in
                if shared.unreplicatedInFlight == 0 || shared.closed { return true }
                shared.drainWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: Status

    public var status: ReplicationStatus {
        let backlog = (try? journal.backlog()) ?? (records: 0, bytes: 0)
        let dirty = ((try? journal.dirtyRanges()) ?? []).reduce(UInt64(0)) { $0 + UInt64($1.count) }
        return shared.withLock { shared in
            var peer: String?
            var state = ReplicationStatus.PeerState.disconnected
            var refusal: String?
            switch shared.phase {
            case .disconnected: break
            case let .connecting(link): (peer, state) = (link.channel.peerName, .connecting)
            case let .resyncing(link): (peer, state) = (link.channel.peerName, .resyncing)
            case let .inSync(link): (peer, state) = (link.channel.peerName, .inSync)
            case let .refused(name, why): (peer, state, refusal) = (name, .refused, why)
            }
            return ReplicationStatus(
                role: .primary, volumeID: shared.volume.volumeID, generation: shared.volume.generation,
                history: shared.volume.history, consistent: shared.volume.consistent, peer: peer, peerState: state,
                refusal: refusal, policy: options.policy, lagOperations: backlog.records, lagBytes: backlog.bytes,
                dirtyBytes: dirty, resyncDone: shared.resyncDone, resyncTotal: shared.resyncTotal,
                writesReplicated: shared.writesReplicated, writesDegraded: shared.writesDegraded)
        }
    }

    public var volume: VolumeState { shared.withLock { $0.volume } }
    public var isClosed: Bool { shared.withLock { $0.closed } }
    /// Sessions that reached sync so far (the connector resets its backoff on progress).
    public var timesInSync: Int { shared.withLock { $0.timesInSync } }
    public var peerTimeout: Duration { options.peerTimeout }
    public var isInSync: Bool {
        shared.withLock { if case .inSync = $0.phase { true } else { false } }
    }
}
