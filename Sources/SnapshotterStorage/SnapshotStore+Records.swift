import Foundation
import SnapshotterCore

/// How snapshots and the id counter are stored in LMDB: a snapshot's key is
/// its UTF-8 key, its value its JSON; the counter is 8 big-endian bytes.
extension SnapshotStore {
    static let nextIDKey = Array("next-id".utf8)

    static func snapshot(_ key: String, _ transaction: MetadataDatabase.Transaction) throws(SnapshotStoreError) -> Snapshot? {
        guard !key.isEmpty, key.utf8.count <= SnapshotTransitions.keyLengthMaximum else { return nil }
        guard let bytes = try transaction.get(transaction.snapshots, Array(key.utf8)) else { return nil }
        return try decode(bytes)
    }

    static func put(_ snapshot: Snapshot, _ transaction: MetadataDatabase.Transaction) throws(SnapshotStoreError) {
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder().encode(snapshot)) } catch { throw .io("encode snapshot \(snapshot.key): \(error)") }
        try transaction.put(transaction.snapshots, Array(snapshot.key.utf8), bytes)
    }

    static func all(_ transaction: MetadataDatabase.Transaction) throws(SnapshotStoreError) -> [Snapshot] {
        var snapshots: [Snapshot] = []
        for bytes in try transaction.values(transaction.snapshots) { snapshots.append(try decode(bytes)) }
        return snapshots
    }

    static func decode(_ bytes: [UInt8]) throws(SnapshotStoreError) -> Snapshot {
        do { return try JSONDecoder().decode(Snapshot.self, from: Data(bytes)) } catch {
            throw .io("corrupt snapshot record: \(error)")
        }
    }

    /// The id the next snapshot's directory gets (ids start at 1).
    static func nextID(_ transaction: MetadataDatabase.Transaction) throws(SnapshotStoreError) -> UInt64 {
        guard let bytes = try transaction.get(transaction.meta, nextIDKey) else { return 1 }
        return bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func encode(id: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: id >> UInt64(56 - 8 * $0)) } }
}

/// Runs a rule of ``SnapshotTransitions``, turning its refusal into a storage error.
func refusing<R>(_ body: () throws(SnapshotError) -> R) throws(SnapshotStoreError) -> R {
    do { return try body() } catch { throw .refused(error) }
}
