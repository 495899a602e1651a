public import BlockDevices
import Journal
import Synchronization

/// The write path: every write, trim and zero is applied locally, logged and
/// sent to the peer under the range lock, in that order (see ``ReplicatedDevice``).
extension ReplicatedDevice {
    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        let checksum = CRC32C.checksum(data)
        let length = UInt32(data.count)
        let header = FrameHeader(.write, flags: fua ? .fua : [], offset: offset, length: length, checksum: checksum, payloadLength: length)
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

    // MARK: The replicated write path

    func replicate(
        _ range: Range<UInt64>, _ header: FrameHeader, _ data: UnsafeRawBufferPointer,
        local: () async throws(DeviceError) -> Void
    ) async throws(DeviceError) {
        // Without a peer, the policy may hold or refuse the write before it
        // takes any lock (a held write must not block the resync that ends
        // the wait).
        if options.policy != .continue, shared.withLock({ $0.pairing.link == nil }) {
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
    func replicateLocked(
        _ range: Range<UInt64>, _ header: FrameHeader, _ data: UnsafeRawBufferPointer,
        local: () async throws(DeviceError) -> Void
    ) async throws(DeviceError) -> Bool {
        let ticket = rangeLock.enqueue(range)
        await rangeLock.wait(ticket)
        do {
            try await activity.begin(range)
        } catch {
            rangeLock.release(ticket)
            throw DeviceError(.io, "transaction log: \(error)")
        }
        let admitted = admit(ticket)
        defer { end(admitted) }
        // Peer first (sent on this thread), then the local write, then the
        // wait for the peer: the two writes overlap with no task between.
        let remote = admitted.link?.begin(admitted.frame(header), data: data)
        let written = await attempt(local)
        let remoteResult = await remote?.answer()
        return try await conclude(admitted, header, written: written, remote: remoteResult)
    }

    /// A write holding its range and its regions: its place in the log and
    /// the link it goes to, if any.
    struct AdmittedWrite: Sendable {
        let ticket: RangeLock.Ticket
        let sequence: UInt64
        let generation: UInt64
        let link: PeerLink?

        var range: Range<UInt64> { ticket.range }

        func frame(_ header: FrameHeader) -> FrameHeader {
            var frame = header
            frame.tag = sequence
            return frame
        }
    }

    /// Takes the write's sequence and asks the pairing whether it goes to
    /// the peer; ``end(_:)`` undoes all it holds.
    func admit(_ ticket: RangeLock.Ticket) -> AdmittedWrite {
        let sequence = journal.reserveSequence()
        let (link, generation) = shared.withLock { shared in
            let link: PeerLink? = if case let .replicate(link) = shared.pairing.event(.writeBegin) { link } else { nil }
            return (link, shared.volume.generation)
        }
        return AdmittedWrite(ticket: ticket, sequence: sequence, generation: generation, link: link)
    }

    /// Once both writes are in: a local failure fails the write; else the
    /// record is logged and the answer says whether the peer has it.
    func conclude(
        _ admitted: AdmittedWrite, _ header: FrameHeader, written: Result<Void, DeviceError>,
        remote: Result<PeerLink.Answer, ReplicationError>?
    ) async throws(DeviceError) -> Bool {
        if case let .failure(error) = written {
            // The peer may hold what this disk refused: make the region dirty
            // and drop the link, so the reconnection's resync puts both alike.
            try? await journal.markDirty([admitted.range])
            admitted.link?.fail(.linkLost("the local device failed a write: \(error.message)"))
            throw error
        }
        let replicated = if case .success = remote { true } else { false }
        if replicated {
            logReplicated(admitted, header)
        } else {
            // Written without the peer: the record is what remembers that
            // the peer lacks it, so it must be committed first.
            do { try await journal.append(record(admitted, header)) } catch { throw DeviceError(.io, "transaction log: \(error)") }
        }
        if admitted.sequence % foldInterval == 0 { await keepLogBounded() }
        return replicated
    }

    /// Logs a write the peer holds: its record only has to be committed in
    /// order with the log's other requests, not before the write returns.
    func logReplicated(_ admitted: AdmittedWrite, _ header: FrameHeader) {
        journal.appendDetached(record(admitted, header), failed: detachedRecordFailed)
    }

    func record(_ admitted: AdmittedWrite, _ header: FrameHeader) -> JournalRecord {
        JournalRecord(
            sequence: admitted.sequence, offset: admitted.range.lowerBound, length: UInt32(admitted.range.count),
            checksum: header.checksum, generation: admitted.generation)
    }

    /// Lets go of what ``admit(_:)`` and the lock took, in the reverse order.
    func end(_ admitted: AdmittedWrite) {
        if admitted.link == nil { finishUnreplicated() }
        complete(admitted.sequence)
        activity.end(admitted.range)
        rangeLock.release(admitted.ticket)
    }

    /// How often the bound is checked: the log holds at most `recordLimit`
    /// plus this many records (an eighth of the limit, at most 256).
    var foldInterval: UInt64 { UInt64(max(1, min(256, journal.limits.recordLimit / 8))) }

    /// Past the record bound, the oldest records fold into the region bitmap
    /// (checked every ``foldInterval`` writes; the count is O(1)). Not while a resync
    /// runs: it clears bitmap regions as it copies them, and a fold then
    /// could mark a region it has already passed.
    func keepLogBounded() async {
        guard !shared.withLock({ $0.pairing.isResyncing }) else { return }
        do {
            try await journal.enforceBound()
        } catch {
            logger.error("replication: cannot fold the log into its bitmap: \(error)")
        }
    }

    func complete(_ sequence: UInt64) {
        shared.withLock { shared in
            precondition(sequence > shared.watermark, "replication: write \(sequence) completed twice")
            // In order, with nothing completed ahead: no set to touch.
            if sequence == shared.watermark + 1 && shared.completedAbove.isEmpty {
                shared.watermark = sequence
                return
            }
            let (inserted, _) = shared.completedAbove.insert(sequence)
            precondition(inserted, "replication: write \(sequence) completed twice")
            while shared.completedAbove.remove(shared.watermark + 1) != nil { shared.watermark += 1 }
        }
    }

    func finishUnreplicated() {
        let waiters = shared.withLock { shared -> [CheckedContinuation<Void, Never>] in
            guard case .resumeDrainWaiters = shared.pairing.event(.unreplicatedWriteEnd) else { return [] }
            defer { shared.drainWaiters = [] }
            return shared.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until no write that bypassed the peer is still in flight.
    func drainUnreplicated() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { shared -> Bool in
                switch shared.pairing.event(.drain) {
                case .proceed: return true
                case .wait: shared.drainWaiters.append(continuation)
                case let action: preconditionFailure("pairing: drain answered \(action)")
                }
                return false
            }
            if done { continuation.resume() }
        }
    }
}
