import Glibc
import Synchronization

/// The transaction log of a replicated volume, in LMDB.
///
/// Every write gets a sequence number and a ``JournalRecord``. Records stay
/// until the peer has acknowledged them (``acknowledge(through:)``), which is
/// how the primary knows which regions a peer that dropped out has missed,
/// and, after a crash, which regions may differ between the two sides.
///
/// Bounds, so the log never grows without limit: at most `recordLimit`
/// records are kept. Past that (a long outage), the oldest records are folded
/// into a region bitmap (one bit per `regionLength` bytes of the volume) and
/// deleted: the peer then gets whole regions resynced, never less than it
/// missed. The LMDB map is sized for `recordLimit` records plus the bitmap.
///
/// Group commit: appends from many requests wait for one write transaction on
/// the journal's own thread (LMDB write transactions must stay on one
/// thread); commits do not fsync. ``sync()`` makes everything appended so far
/// durable, and is what FLUSH and FUA wait for.
public final class Journal: Sendable {
    public struct Limits: Sendable {
        /// Records kept before folding into the bitmap: 1 Mi records; the
        /// LMDB map is sized at 96 bytes each (96 MiB) plus the bitmap.
        public var recordLimit = 1 << 20
        /// Bytes of the volume per bitmap bit: 1 MiB (a 1 TiB volume is a 128 KiB bitmap).
        public var regionLength: UInt64 = 1 << 20
        /// Regions the activity log keeps active once both copies have
        /// flushed them, the most recently written first: 1,024 (1 GiB).
        /// Bounds what a crash resyncs (these, plus whatever was written
        /// since the last flush); a write to a region kept active needs no
        /// sync of the log, which a flush after every write would otherwise
        /// make it pay each time.
        public var activeRegionLimit = 1024
        public init() {}
    }

    let store: LMDBEnvironment
    public let limits: Limits
    public let volumeSize: UInt64
    private let writer: JournalWriter
    private let nextSequence: Mutex<UInt64>

    /// Opens (creating) the log in directory `path`. With `inline`, requests
    /// are applied on the caller's thread instead of a writer thread (no group
    /// commit): the deterministic simulation needs every step on one executor.
    ///
    /// `afterSync` runs after every sync: the simulation copies the log
    /// there, because a power loss keeps only what was last synced.
    public init(
        path: String, volumeSize: UInt64, limits: Limits = Limits(), inline: Bool = false,
        afterSync: (@Sendable () -> Void)? = nil
    ) throws(JournalError) {
        let bitmapBytes = Int((volumeSize + limits.regionLength * 8 - 1) / (limits.regionLength * 8))
        let mapSize = max(16 << 20, limits.recordLimit * 96 + bitmapBytes * 4)
        let store = try LMDBEnvironment(path: path, mapSize: (mapSize + 4095) & ~4095)
        self.store = store
        self.limits = limits
        self.volumeSize = volumeSize
        let last = try store.transaction(readOnly: true) { (transaction) throws(JournalError) -> UInt64 in
            try store.get(transaction, store.meta, key: LMDBEnvironment.lastSequenceKey).map { bytes in
                bytes.withUnsafeBytes { UInt64(keyBytes: $0) }
            } ?? 0
        }
        nextSequence = Mutex(last + 1)
        writer = JournalWriter(store: store, inline: inline, afterSync: afterSync)
    }

    /// Logs one write (or trim or zero) and returns its sequence number once
    /// the record is committed (not yet synced).
    public func append(offset: UInt64, length: UInt32, checksum: UInt32, generation: UInt64) async throws(JournalError) -> UInt64 {
        let sequence = reserveSequence()
        try await append(JournalRecord(sequence: sequence, offset: offset, length: length, checksum: checksum, generation: generation))
        return sequence
    }

    /// Takes the next sequence number, so a write can be sent to the peer
    /// while its record is being committed.
    public func reserveSequence() -> UInt64 {
        nextSequence.withLock { next in
            defer { next += 1 }
            return next
        }
    }

    /// The highest sequence number handed out so far.
    public var lastSequence: UInt64 { nextSequence.withLock { $0 } - 1 }

    /// Commits a record whose sequence came from ``reserveSequence()``.
    public func append(_ record: JournalRecord) async throws(JournalError) {
        try await writer.submit(.append(record))
    }

    /// Commits a record without waiting: for writes the peer already holds,
    /// whose record only has to be there by the next sync (group commit
    /// keeps the order of everything submitted). It is committed with the
    /// next request that is waited for, or once 256 are queued; records
    /// lost with the process are covered by the activity log.
    ///
    /// `failed` hears the error and the record's sequence if its commit
    /// fails. Pass a closure made once, not a literal that captures: that
    /// one is allocated anew at every call, on the replicated write path.
    public func appendDetached(_ record: JournalRecord, failed: @escaping @Sendable (JournalError, _ sequence: UInt64) -> Void) {
        writer.submitDetached(.append(record), failed: failed)
    }

    /// Marks byte ranges the peer may lack (regions the peer reported after
    /// its own crash, mismatches found by verify, the whole volume for a new
    /// peer): they join the region bitmap until cleared.
    public func markDirty(_ ranges: [Range<UInt64>]) async throws(JournalError) {
        guard !ranges.isEmpty else { return }
        try await writer.submit(.markDirty(ranges, regionLength: limits.regionLength, bitmapLength: bitmapLength))
    }

    /// The peer now holds every byte below `offset` as it was when resync
    /// began at `sequence`: records up to `sequence` wholly below `offset` go,
    /// and bitmap regions wholly below it are cleared. Pass ``volumeSize`` to
    /// clear everything up to `sequence`.
    public func clearDirty(below offset: UInt64, throughSequence sequence: UInt64) async throws(JournalError) {
        let below = offset >= volumeSize ? UInt64.max : offset
        try await writer.submit(.clearDirty(below: below, throughSequence: sequence, regionLength: limits.regionLength))
    }

    /// How far the peer is behind: unacknowledged records and their bytes,
    /// counting the appends and acknowledgements queued without waiting.
    /// Blocks the calling thread while those commit: not for a task.
    public func backlog() throws(JournalError) -> (records: Int, bytes: UInt64) {
        writer.settle()
        return try store.transaction(readOnly: true) { (transaction) throws(JournalError) -> (records: Int, bytes: UInt64) in
            var records = 0
            var bytes: UInt64 = 0
            try store.scan(transaction, store.records, from: UInt64(0).keyBytes) { key, value in
                records += 1
                if let record = JournalRecord(sequence: UInt64(keyBytes: key), value: value) { bytes += UInt64(record.length) }
                return .next
            }
            return (records, bytes)
        }
    }

    /// Makes every record appended before this call durable.
    public func sync() async throws(JournalError) {
        try await writer.submit(.sync)
    }

    /// The peer holds every write up to `sequence`: their records go.
    public func acknowledge(through sequence: UInt64) async throws(JournalError) {
        try await writer.submit(.acknowledge(sequence))
    }

    /// ``acknowledge(through:)`` without waiting for its commit, which rides
    /// along as a detached append does: a FLUSH of both copies need not wait
    /// for its records to be trimmed, and losing the trim in a crash only
    /// resyncs those writes again. `failed` hears if the commit fails.
    public func acknowledgeDetached(
        through sequence: UInt64, failed: @escaping @Sendable (JournalError, _ sequence: UInt64) -> Void
    ) {
        writer.submitDetached(.acknowledge(sequence), failed: failed)
    }

    /// Folds records beyond the bound into the bitmap; called by the owner
    /// when it sees the log grow (cheap when under the bound).
    public func enforceBound() async throws(JournalError) {
        try await writer.submit(.fold(keep: limits.recordLimit, regionLength: limits.regionLength, bitmapLength: bitmapLength))
    }

    var bitmapLength: Int { Int((volumeSize + limits.regionLength * 8 - 1) / (limits.regionLength * 8)) }

    /// Records not yet acknowledged by the peer, in sequence order.
    public func unacknowledged(limit: Int = .max) throws(JournalError) -> [JournalRecord] {
        try store.transaction(readOnly: true) { (transaction) throws(JournalError) -> [JournalRecord] in
            var result: [JournalRecord] = []
            try store.scan(transaction, store.records, from: UInt64(0).keyBytes) { key, value in
                if let record = JournalRecord(sequence: UInt64(keyBytes: key), value: value) { result.append(record) }
                return result.count < limit ? .next : .stop
            }
            return result
        }
    }

    /// Byte ranges the peer may lack: unacknowledged records and every region
    /// the bitmaps mark (regions marked dirty, and records folded past the
    /// bound), merged and in order.
    public func dirtyRanges() throws(JournalError) -> [Range<UInt64>] {
        var ranges = try unacknowledged().map { $0.offset..<($0.offset + UInt64(max($0.length, 1))) }
        let bitmaps = try store.transaction(readOnly: true) { (transaction) throws(JournalError) -> [[UInt8]] in
            [
                try store.get(transaction, store.meta, key: Array("bitmap".utf8)) ?? [],
                try store.get(transaction, store.meta, key: Array("folded-bitmap".utf8)) ?? [],
            ]
        }
        for bitmap in bitmaps { ranges += regionRanges(bitmap) }
        return Self.merge(ranges)
    }

    /// The byte ranges of the regions a bitmap (one bit per `regionLength`,
    /// as the log's bitmap and the activity log keep them) marks, merged.
    public func regionRanges(_ bitmap: [UInt8]) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        for (byteIndex, byte) in bitmap.enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << bit) != 0 {
                let start = UInt64(byteIndex * 8 + bit) * limits.regionLength
                guard start < volumeSize else { continue }
                ranges.append(start..<min(start + limits.regionLength, volumeSize))
            }
        }
        return Self.merge(ranges)
    }

    static func merge(_ ranges: [Range<UInt64>]) -> [Range<UInt64>] {
        var merged: [Range<UInt64>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    /// Syncs and stops the writer thread; the journal takes no more requests.
    public func close() async throws(JournalError) {
        defer { store.close() }
        try await sync()
        writer.close()
    }

    /// Reads a named value from the log's metadata (generation history, roles).
    public func metadata(_ name: String) throws(JournalError) -> [UInt8]? {
        try store.transaction(readOnly: true) { (transaction) throws(JournalError) -> [UInt8]? in
            try store.get(transaction, store.meta, key: Array(name.utf8))
        }
    }

    /// Stores the value `current` returns at commit time (not at call
    /// time): concurrent callers that each changed a shared value in memory
    /// can never commit an older copy over a newer one.
    public func setMetadata(_ name: String, fromCurrent current: @escaping @Sendable () -> [UInt8], sync: Bool) async throws(JournalError) {
        try await writer.submit(.setMetadataFromCurrent(name, current))
        if sync { try await self.sync() }
    }

    /// Stores a named value; durably unless `sync` is false (for values
    /// whose loss in a crash only costs extra work, never data).
    public func setMetadata(_ name: String, _ value: [UInt8], sync: Bool = true) async throws(JournalError) {
        try await writer.submit(.setMetadata(name, value))
        if sync { try await self.sync() }
    }
}
