public import Journal
import Synchronization

/// The regions being written, recorded durably before the first write to
/// each (DRBD's activity log). After a crash, nobody knows which of the
/// writes in flight reached which disk, so every region marked active is
/// treated as possibly different between the two copies and resynced.
///
/// Cost: one journal sync on the first write to a region since it was last
/// cooled, never one per write. A region may cool once every write to it has
/// completed before a flush that covered both copies, but only the least
/// recently written cool, and only while more than
/// `Journal.Limits.activeRegionLimit` are active (DRBD's hot extents): a
/// client that flushes after each write keeps writing to active regions,
/// where cooling them at every flush made each of its writes wait for two
/// syncs, one per copy. Cooling is written lazily (losing it in a crash only
/// means resyncing a little more).
public final class ActivityLog: Sendable {
    private struct State {
        var bitmap: [UInt8]
        /// Bits set in `bitmap`.
        var activeCount: Int
        var inFlight: [UInt64: Int] = [:]
        /// Per active region, the completion ticket of its last write.
        var lastCompleted: [UInt64: UInt64] = [:]
        var ticket: UInt64 = 0
        /// Regions set in memory whose persisting commit has not finished:
        /// a writer that finds its region here must wait for a sync too.
        var unsynced: Set<UInt64> = []
    }

    private static let key = "activity"
    private let journal: Journal
    private let regionLength: UInt64
    private let activeLimit: Int
    private let state: Mutex<State>

    public init(journal: Journal) throws(JournalError) {
        self.journal = journal
        regionLength = journal.limits.regionLength
        activeLimit = max(0, journal.limits.activeRegionLimit)
        let length = Int((journal.volumeSize + regionLength * 8 - 1) / (regionLength * 8))
        var bitmap = try journal.metadata(Self.key) ?? []
        if bitmap.count < length { bitmap += [UInt8](repeating: 0, count: length - bitmap.count) }
        var state = State(bitmap: bitmap, activeCount: bitmap.reduce(0) { $0 + $1.nonzeroBitCount })
        // Regions found active (after a crash) may cool at the first flush of
        // both copies, which comes only after the resync has covered them;
        // as written least recently of all, they are the first to.
        for (byteIndex, byte) in bitmap.enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << bit) != 0 { state.lastCompleted[UInt64(byteIndex * 8 + bit)] = 0 }
        }
        self.state = Mutex(state)
    }

    private func regions(_ range: Range<UInt64>) -> ClosedRange<UInt64> {
        (range.lowerBound / regionLength)...((max(range.upperBound, range.lowerBound + 1) - 1) / regionLength)
    }

    /// Marks `range`'s regions active, durably if any was not, before a write to it.
    ///
    /// When the sync fails the write is counted out again (it will not run:
    /// callers fail it without calling ``end(_:)``), so its regions still
    /// cool. They stay marked until then: marked and unsynced, a region only
    /// makes the next writer sync, and at worst is resynced after a crash.
    public func begin(_ range: Range<UInt64>) async throws(JournalError) {
        let mustSync = state.withLock { state -> Bool in
            var mustSync = false
            for region in regions(range) {
                state.inFlight[region, default: 0] += 1
                let (byte, bit) = (Int(region / 8), UInt8(region % 8))
                if state.bitmap[byte] & (1 << bit) == 0 {
                    state.bitmap[byte] |= 1 << bit
                    state.activeCount += 1
                    state.unsynced.insert(region)
                    mustSync = true
                } else if state.unsynced.contains(region) {
                    mustSync = true
                }
            }
            return mustSync
        }
        guard mustSync else { return }
        do {
            try await journal.setMetadata(Self.key, fromCurrent: { [self] in state.withLock { $0.bitmap } }, sync: true)
        } catch {
            end(range)
            throw error
        }
        // That commit read the bitmap after these regions were set.
        state.withLock { state in
            for region in regions(range) { state.unsynced.remove(region) }
        }
    }

    /// ``begin(_:)`` for a write whose regions are all active and on disk
    /// already, the common case, which needs no sync: true, and the write is
    /// counted in. False, having changed nothing, when `begin` would sync.
    public func beginWithoutSync(_ range: Range<UInt64>) -> Bool {
        state.withLock { state in
            for region in regions(range) {
                let (byte, bit) = (Int(region / 8), UInt8(region % 8))
                guard state.bitmap[byte] & (1 << bit) != 0, !state.unsynced.contains(region) else { return false }
            }
            for region in regions(range) { state.inFlight[region, default: 0] += 1 }
            return true
        }
    }

    /// The write to `range` has completed (successfully or not).
    public func end(_ range: Range<UInt64>) {
        state.withLock { state in
            state.ticket += 1
            for region in regions(range) {
                guard let writes = state.inFlight[region] else {
                    preconditionFailure("activity log: a write to region \(region) ended that never began, or ended twice")
                }
                state.inFlight[region] = writes == 1 ? nil : writes - 1
                state.lastCompleted[region] = state.ticket
            }
        }
    }

    /// Call before flushing both copies; pass the result to ``cool(after:)``
    /// once both flushes succeeded.
    public func flushMark() -> UInt64 { state.withLock { $0.ticket } }

    /// While more than the limit of regions are active, clears those with
    /// nothing in flight whose last write completed before `mark` (so the
    /// flushes covered it), least recently written first, down to the limit.
    public func cool(after mark: UInt64) async throws(JournalError) {
        let changed = state.withLock { state -> Bool in
            let excess = state.activeCount - activeLimit
            guard excess > 0 else { return false }
            let coolable = state.lastCompleted.filter { region, completed in
                completed <= mark && state.inFlight[region] == nil
            }
            for (region, _) in coolable.sorted(by: { $0.value < $1.value }).prefix(excess) {
                state.bitmap[Int(region / 8)] &= ~(1 << UInt8(region % 8))
                state.lastCompleted[region] = nil
                state.activeCount -= 1
            }
            return !coolable.isEmpty
        }
        guard changed else { return }
        try await journal.setMetadata(Self.key, fromCurrent: { [self] in state.withLock { $0.bitmap } }, sync: false)
    }

    /// Every active region as byte ranges, merged.
    public var activeRanges: [Range<UInt64>] {
        journal.regionRanges(state.withLock { $0.bitmap })
    }

    public var activeCount: Int { state.withLock { $0.activeCount } }
}
