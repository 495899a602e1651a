import Foundation
public import SnapshotterCore
import Synchronization

/// containerd's snapshot tree on a directory: metadata in LMDB under
/// `ROOT/metadata`, each snapshot's files in `ROOT/snapshots/ID/{fs,work}`.
///
/// Directories are named by a numeric id, never by a key, so no key can
/// reach a path. Crash safety comes from the order of the two steps: a
/// directory is made before the transaction that names it, and removed
/// after the transaction that forgets it, so a crash can leave only a
/// directory no snapshot names, which ``cleanup()`` collects. Every state
/// change is one LMDB write transaction (synced at commit).
///
/// Calls block on the disk: run them off Swift's cooperative pool.
public final class SnapshotStore: Sendable {
    public let root: String
    private let database: MetadataDatabase
    /// Serialises calls: LMDB allows one writer, and a directory id is
    /// chosen and used inside one call.
    private let lock = Mutex(())
    /// The clock, replaceable by tests.
    private let now: @Sendable () -> Timestamp

    /// The metadata map's size: a limit, not an allocation (the file is
    /// sparse). 1 GiB holds millions of snapshot records; past it calls fail
    /// with ENOSPC and change nothing.
    public static let mapSizeDefault = 1 << 30

    public init(
        root: String, mapSize: Int = mapSizeDefault, now: @escaping @Sendable () -> Timestamp = SnapshotStore.wallClock
    ) throws(SnapshotStoreError) {
        self.root = root
        self.now = now
        for directory in [root, root + "/snapshots"] where mkdir(directory, 0o755) != 0 {
            guard errno == EEXIST else { throw SnapshotStoreError("create \(directory)", errno: errno) }
        }
        database = try MetadataDatabase(path: root + "/metadata", mapSize: mapSize)
    }

    /// Opens an existing store for reading only, beside a running
    /// snapshotter: LMDB allows readers in other processes, and nothing
    /// here writes (`buse layers diff`).
    public init(readingOnly root: String) throws(SnapshotStoreError) {
        self.root = root
        self.now = SnapshotStore.wallClock
        database = try MetadataDatabase(path: root + "/metadata", mapSize: Self.mapSizeDefault, readOnly: true)
    }

    public static func wallClock() -> Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(seconds: Int64(time.tv_sec), nanoseconds: Int32(time.tv_nsec))
    }

    func directory(_ id: UInt64) -> String { "\(root)/snapshots/\(id)" }

    // MARK: Calls

    /// Prepare (`.active`) or View (`.view`): a new snapshot and its mounts.
    public func create(
        kind: Snapshot.Kind, key: String, parent: String, labels: [String: String]
    ) throws(SnapshotStoreError) -> [SnapshotMount] {
        try lock.withLock { _ throws(SnapshotStoreError) in
            let id = try database.transaction(readOnly: true) { transaction throws(SnapshotStoreError) in
                try Self.nextID(transaction)
            }
            // An id at or past the counter names no snapshot: whatever a crash
            // left in its directory is garbage.
            let directory = directory(id)
            try FileTree.remove(directory)
            try FileTree.makeDirectories([directory, directory + "/fs", directory + "/work"])
            do throws(SnapshotStoreError) {
                let snapshot = try database.transaction(readOnly: false) { transaction throws(SnapshotStoreError) in
                    let existing = try Self.snapshot(key, transaction)
                    let parentSnapshot = parent.isEmpty ? nil : try Self.snapshot(parent, transaction)
                    let created = try refusing { () throws(SnapshotError) in
                        try SnapshotTransitions.create(
                            kind: kind, key: key, parentKey: parent, labels: labels, existing: existing,
                            parent: parentSnapshot, id: id, now: now())
                    }
                    try Self.put(created, transaction)
                    try transaction.put(transaction.meta, Self.nextIDKey, Self.encode(id: id + 1))
                    return created
                }
                return try mounts(snapshot)
            } catch {
                try? FileTree.remove(directory)
                throw error
            }
        }
    }

    public func mounts(key: String) throws(SnapshotStoreError) -> [SnapshotMount] {
        try lock.withLock { _ throws(SnapshotStoreError) in
            try mounts(try stat(unlocked: key))
        }
    }

    /// Commit: the active snapshot `key` becomes committed under `name`,
    /// keeping its directory; its usage is measured first.
    public func commit(name: String, key: String, labels: [String: String]) throws(SnapshotStoreError) {
        try lock.withLock { _ throws(SnapshotStoreError) in
            let active = try stat(unlocked: key)
            let usage = active.kind == .active ? try FileTree.usage(directory(active.id) + "/fs") : Usage(size: 0, inodes: 0)
            try database.transaction(readOnly: false) { transaction throws(SnapshotStoreError) in
                let current = try Self.snapshot(key, transaction)
                let existing = try Self.snapshot(name, transaction)
                let committed = try refusing { () throws(SnapshotError) in
                    try SnapshotTransitions.commit(
                        name: name, key: key, labels: labels, active: current, existing: existing, usage: usage, now: now())
                }
                try transaction.delete(transaction.snapshots, Array(key.utf8))
                try Self.put(committed, transaction)
            }
        }
    }

    /// Remove: forgets the snapshot, then deletes its directory.
    public func remove(key: String) throws(SnapshotStoreError) {
        try lock.withLock { _ throws(SnapshotStoreError) in
            let removed = try database.transaction(readOnly: false) { transaction throws(SnapshotStoreError) in
                let hasChildren = try Self.all(transaction).contains { $0.parent == key }
                let current = try Self.snapshot(key, transaction)
                let removed = try refusing { () throws(SnapshotError) in
                    try SnapshotTransitions.remove(key: key, snapshot: current, hasChildren: hasChildren)
                }
                try transaction.delete(transaction.snapshots, Array(key.utf8))
                return removed
            }
            // Forgotten and durable: a failure or crash here leaves a directory for cleanup.
            try? FileTree.remove(directory(removed.id))
        }
    }

    public func stat(key: String) throws(SnapshotStoreError) -> Snapshot {
        try lock.withLock { _ throws(SnapshotStoreError) in try stat(unlocked: key) }
    }

    public func update(key: String, labels: [String: String], paths: [String]) throws(SnapshotStoreError) -> Snapshot {
        try lock.withLock { _ throws(SnapshotStoreError) in
            try database.transaction(readOnly: false) { transaction throws(SnapshotStoreError) in
                let current = try Self.snapshot(key, transaction)
                let updated = try refusing { () throws(SnapshotError) in
                    try SnapshotTransitions.update(key: key, labels: labels, paths: paths, current: current, now: now())
                }
                try Self.put(updated, transaction)
                return updated
            }
        }
    }

    /// Usage: measured at commit for a committed snapshot, walked now otherwise.
    public func usage(key: String) throws(SnapshotStoreError) -> Usage {
        try lock.withLock { _ throws(SnapshotStoreError) in
            let snapshot = try stat(unlocked: key)
            if let usage = snapshot.usage { return usage }
            return try FileTree.usage(directory(snapshot.id) + "/fs")
        }
    }

    /// List: the snapshots any of `filters` matches (all when there are none).
    public func list(filters: [SnapshotFilter]) throws(SnapshotStoreError) -> [Snapshot] {
        try lock.withLock { _ throws(SnapshotStoreError) in
            try database.transaction(readOnly: true) { transaction throws(SnapshotStoreError) in
                try Self.all(transaction).filter { SnapshotFilter.matches(any: filters, $0) }
            }
        }
    }

    /// Cleanup: deletes the directories no snapshot names (what a crash or a
    /// failed removal left behind). Returns the ids removed.
    @discardableResult
    public func cleanup() throws(SnapshotStoreError) -> [UInt64] {
        try lock.withLock { _ throws(SnapshotStoreError) in
            let named = try database.transaction(readOnly: true) { transaction throws(SnapshotStoreError) in
                Set(try Self.all(transaction).map(\.id))
            }
            var removed: [UInt64] = []
            for name in try FileTree.entries(root + "/snapshots") {
                // Only directories named by an id are ours to collect.
                guard let id = UInt64(name), String(id) == name, !named.contains(id) else { continue }
                try FileTree.remove(directory(id))
                removed.append(id)
            }
            return removed.sorted()
        }
    }

    /// The directories of an active or committed snapshot: its own `fs`
    /// (an overlay's upper directory) and its parents' `fs`, nearest first.
    public func layerDirectories(key: String) throws(SnapshotStoreError) -> LayerDirectories {
        try lock.withLock { _ throws(SnapshotStoreError) in
            let snapshot = try stat(unlocked: key)
            guard snapshot.kind != .view else {
                throw .refused(.failedPrecondition("snapshot \(key) is a view: it has no layer of its own"))
            }
            let parents = try database.transaction(readOnly: true) { transaction throws(SnapshotStoreError) in
                try parentDirectories(snapshot, transaction)
            }
            return LayerDirectories(upper: directory(snapshot.id) + "/fs", lowers: parents)
        }
    }

    // MARK: Inside the lock

    private func stat(unlocked key: String) throws(SnapshotStoreError) -> Snapshot {
        try database.transaction(readOnly: true) { transaction throws(SnapshotStoreError) in
            guard let snapshot = try Self.snapshot(key, transaction) else {
                throw .refused(.notFound("snapshot \(key): not found"))
            }
            return snapshot
        }
    }

    /// The `fs` directories of `snapshot`'s parent chain, nearest first.
    private func parentDirectories(
        _ snapshot: Snapshot, _ transaction: MetadataDatabase.Transaction
    ) throws(SnapshotStoreError) -> [String] {
        var parents: [String] = []
        var next = snapshot.parent
        while let key = next {
            guard let parent = try Self.snapshot(key, transaction) else {
                throw .io("snapshot \(snapshot.key): parent \(key) is missing from the metadata")
            }
            parents.append(directory(parent.id) + "/fs")
            next = parent.parent
        }
        return parents
    }

    /// The mounts of `snapshot`, reading its parent chain.
    private func mounts(_ snapshot: Snapshot) throws(SnapshotStoreError) -> [SnapshotMount] {
        let parents = try database.transaction(readOnly: true) { transaction throws(SnapshotStoreError) in
            try parentDirectories(snapshot, transaction)
        }
        return SnapshotMount.mounts(kind: snapshot.kind, directory: directory(snapshot.id), parents: parents)
    }
}
