import Glibc
import Threading

/// The journal's one writer thread. Requests queue up; the thread takes all
/// that are waiting, applies them in one LMDB write transaction (a group
/// commit), then answers each. A sync request syncs after that commit.
final class JournalWriter: Sendable {
    enum Request: Sendable {
        case append(JournalRecord)
        case acknowledge(UInt64)
        case setMetadata(String, [UInt8])
        /// Stores the value `current()` returns when the transaction runs, so
        /// that of several racing requests the last commit holds the newest.
        case setMetadataFromCurrent(String, @Sendable () -> [UInt8])
        case fold(keep: Int, regionLength: UInt64, bitmapLength: Int)
        case markDirty([Range<UInt64>], regionLength: UInt64, bitmapLength: Int)
        case clearDirty(below: UInt64, throughSequence: UInt64, regionLength: UInt64)
        case sync
        /// Changes nothing: answered once everything queued before it is committed.
        case barrier
    }

    private struct Pending: Sendable {
        let request: Request
        /// nil for a detached request, whose failure goes to `failed`.
        let done: CheckedContinuation<Void, any Error>?
        var failed: (@Sendable (JournalError, _ sequence: UInt64) -> Void)? = nil
        /// Told, whatever the outcome, once the request's batch is done: a
        /// thread that waits for it without being a task (``settle()``).
        var settled: BatchQueue<Bool>? = nil
    }

    private let store: LMDBEnvironment
    private let queue = BatchQueue<Pending>()
    private let finished = BatchQueue<Bool>()
    /// Applies each request on the caller's thread, with no writer thread:
    /// for the deterministic simulation, where every step must run on one
    /// executor in a reproducible order.
    private let inline: Bool

    private let afterSync: (@Sendable () -> Void)?

    init(store: LMDBEnvironment, inline: Bool, afterSync: (@Sendable () -> Void)?) {
        self.store = store
        self.inline = inline
        self.afterSync = afterSync
        if inline { return }
        // The thread holds the queue and the store, not the writer, so that
        // dropping the journal ends it.
        SystemThread.start(named: "journal-writer") { [queue, store, finished, afterSync] in
            Self.run(queue, store, afterSync)
            finished.push(true)
        }
    }

    deinit { queue.close() }

    /// Ends the writer thread after what is queued, and waits for it.
    func close() {
        if inline { return }
        queue.close()
        _ = finished.takeAll()
    }

    func submit(_ request: Request) async throws(JournalError) {
        if inline { return try Self.commit([request], store, afterSync) }
        do {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                // A closed log's thread is gone: nothing would answer.
                if !queue.push(Pending(request: request, done: done)) { done.resume(throwing: JournalError.closed) }
            }
        } catch let error as JournalError {
            throw error
        } catch {
            preconditionFailure("journal writer threw \(error)")
        }
    }

    /// Queues an append or an acknowledgement without waiting for it;
    /// `failed` hears if its commit fails, with the record's sequence (an
    /// acknowledgement's: the sequence it acknowledges through).
    func submitDetached(_ request: Request, failed: @escaping @Sendable (JournalError, _ sequence: UInt64) -> Void) {
        if inline {
            do { try Self.commit([request], store, afterSync) } catch { failed(error, Self.sequence(of: request)) }
            return
        }
        // Rides along with the next awaited request (a degraded write's
        // append, a sync, an activity-log mark) or wakes the writer once 256
        // wait: no thread wake-up per replicated write, nor per flush.
        if !queue.pushQuietly(Pending(request: request, done: nil, failed: failed), wakeAt: 256) {
            failed(.closed, Self.sequence(of: request))
        }
    }

    /// Blocks the calling thread until everything queued before the call
    /// has been committed (or has failed), so that a reader of the store
    /// sees what was queued without waiting. Not for a task: it blocks.
    func settle() {
        if inline { return }
        let settled = BatchQueue<Bool>()
        guard queue.push(Pending(request: .barrier, done: nil, settled: settled)) else { return }
        _ = settled.takeAll()
    }

    private static func sequence(of request: Request) -> UInt64 {
        switch request {
        case let .append(record): record.sequence
        case let .acknowledge(sequence): sequence
        default: 0
        }
    }

    private static func run(_ queue: BatchQueue<Pending>, _ store: LMDBEnvironment, _ afterSync: (@Sendable () -> Void)?) {
        while let batch = queue.takeAll() {
            let result: Result<Void, JournalError> = Result { () throws(JournalError) in
                try commit(batch.map(\.request), store, afterSync)
            }
            for pending in batch {
                switch result {
                case .success: pending.done?.resume()
                case let .failure(error):
                    pending.done?.resume(throwing: error)
                    pending.failed?(error, sequence(of: pending.request))
                }
                pending.settled?.push(true)
            }
        }
    }

    /// One write transaction for the whole batch, then one sync if any asked.
    private static func commit(_ requests: [Request], _ store: LMDBEnvironment, _ afterSync: (@Sendable () -> Void)?) throws(JournalError) {
        try store.transaction(readOnly: false) { (transaction) throws(JournalError) in
            var highest: UInt64 = 0
            for request in requests {
                try apply(request, transaction, store)
                if case let .append(record) = request { highest = max(highest, record.sequence) }
            }
            if highest > 0 { try raiseLastSequence(to: highest, transaction, store) }
        }
        if requests.contains(where: { if case .sync = $0 { true } else { false } }) {
            try store.sync()
            afterSync?()
        }
    }

    /// Stores `sequence` as the highest a record has had, unless a higher
    /// one is stored. Writes finish, and so log, out of order: the last
    /// record committed is not always the highest, and a log reopened after
    /// storing that one handed out a sequence again, overwriting the record
    /// that had it. Once per commit rather than once per record.
    private static func raiseLastSequence(
        to sequence: UInt64, _ transaction: OpaquePointer, _ store: LMDBEnvironment
    ) throws(JournalError) {
        let stored = try store.get(transaction, store.meta, key: LMDBEnvironment.lastSequenceKey)
        if let stored, stored.withUnsafeBytes({ UInt64(keyBytes: $0) }) >= sequence { return }
        try store.put(transaction, store.meta, key: LMDBEnvironment.lastSequenceKey, value: sequence.keyBytes)
    }

    private static func apply(_ request: Request, _ transaction: OpaquePointer, _ store: LMDBEnvironment) throws(JournalError) {
        switch request {
        case let .append(record):
            // Encoded on the stack: no allocation per record.
            let status = withUnsafeBytes(of: record.sequence.bigEndian) { key in
                record.withEncodedValue { value in
                    Result { () throws(JournalError) in try store.put(transaction, store.records, key: key, value: value) }
                }
            }
            try status.get()
        case let .acknowledge(sequence):
            try store.scan(transaction, store.records, from: UInt64(0).keyBytes) { key, _ in
                UInt64(keyBytes: key) <= sequence ? .delete : .stop
            }
            try store.put(transaction, store.meta, key: Array("acknowledged".utf8), value: sequence.keyBytes)
            // Regions folded from records no newer than `sequence` are
            // acknowledged with them (the bitmap that markDirty keeps is not:
            // those regions wait for a resync).
            if let folded = try store.get(transaction, store.meta, key: Array("folded-through".utf8)),
                folded.withUnsafeBytes({ UInt64(keyBytes: $0) }) <= sequence
            {
                try store.put(transaction, store.meta, key: Array("folded-bitmap".utf8), value: [])
            }
        case let .setMetadata(name, value):
            try store.put(transaction, store.meta, key: Array(name.utf8), value: value)
        case let .setMetadataFromCurrent(name, current):
            try store.put(transaction, store.meta, key: Array(name.utf8), value: current())
        case let .fold(keep, regionLength, bitmapLength):
            try fold(transaction, store, keep: keep, regionLength: regionLength, bitmapLength: bitmapLength)
        case let .markDirty(ranges, regionLength, bitmapLength):
            var bitmap = try loadBitmap(transaction, store, length: bitmapLength)
            for range in ranges where !range.isEmpty {
                for region in (range.lowerBound / regionLength)...((range.upperBound - 1) / regionLength)
                where Int(region / 8) < bitmap.count {
                    bitmap[Int(region / 8)] |= 1 << UInt8(region % 8)
                }
            }
            try store.put(transaction, store.meta, key: Array("bitmap".utf8), value: bitmap)
        case let .clearDirty(below, throughSequence, regionLength):
            try store.scan(transaction, store.records, from: UInt64(0).keyBytes) { key, value in
                guard UInt64(keyBytes: key) <= throughSequence else { return .stop }
                guard let record = JournalRecord(sequence: UInt64(keyBytes: key), value: value) else { return .delete }
                return record.offset + UInt64(record.length) <= below ? .delete : .next
            }
            for name in ["bitmap", "folded-bitmap"] {
                var bitmap = try store.get(transaction, store.meta, key: Array(name.utf8)) ?? []
                let regionsBelow = below / regionLength
                for region in 0..<min(regionsBelow, UInt64(bitmap.count) * 8) {
                    bitmap[Int(region / 8)] &= ~(1 << UInt8(region % 8))
                }
                try store.put(transaction, store.meta, key: Array(name.utf8), value: bitmap)
            }
        case .sync, .barrier:
            break
        }
    }

    private static func loadBitmap(
        _ transaction: OpaquePointer, _ store: LMDBEnvironment, length: Int, name: String = "bitmap"
    ) throws(JournalError) -> [UInt8] {
        var bitmap = try store.get(transaction, store.meta, key: Array(name.utf8)) ?? []
        if bitmap.count < length { bitmap += [UInt8](repeating: 0, count: length - bitmap.count) }
        return bitmap
    }

    /// Moves the oldest records past `keep` into the folded-region bitmap,
    /// remembering the newest sequence folded: an acknowledgement through it
    /// clears that bitmap as it trims records (markDirty's bitmap is apart,
    /// so a region a failed write marked is never cleared by a flush).
    private static func fold(
        _ transaction: OpaquePointer, _ store: LMDBEnvironment, keep: Int, regionLength: UInt64, bitmapLength: Int
    ) throws(JournalError) {
        let count = try store.count(transaction, store.records)
        guard count > keep else { return }
        var excess = count - keep
        var bitmap = try loadBitmap(transaction, store, length: bitmapLength, name: "folded-bitmap")
        var foldedThrough =
            try store.get(transaction, store.meta, key: Array("folded-through".utf8)).map { $0.withUnsafeBytes { UInt64(keyBytes: $0) } }
            ?? 0
        try store.scan(transaction, store.records, from: UInt64(0).keyBytes) { key, value in
            guard excess > 0 else { return .stop }
            excess -= 1
            foldedThrough = max(foldedThrough, UInt64(keyBytes: key))
            guard let record = JournalRecord(sequence: UInt64(keyBytes: key), value: value) else { return .delete }
            let first = record.offset / regionLength
            let last = (record.offset + UInt64(max(record.length, 1)) - 1) / regionLength
            for region in first...last where Int(region / 8) < bitmap.count {
                bitmap[Int(region / 8)] |= 1 << UInt8(region % 8)
            }
            return .delete
        }
        try store.put(transaction, store.meta, key: Array("folded-bitmap".utf8), value: bitmap)
        try store.put(transaction, store.meta, key: Array("folded-through".utf8), value: foldedThrough.keyBytes)
    }
}
