/// The snapshot tree's state transitions, as pure functions.
///
/// A snapshot is born Active (Prepare) or View (View), always on a Committed
/// parent or on nothing. Commit turns an Active snapshot into a Committed one
/// under a new name, keeping its directory; a View can never be committed.
/// Update changes labels only. Remove forgets a snapshot that no other names
/// as its parent. Storage reads what a call needs in one write transaction,
/// asks these functions, and writes back exactly what they return, so the
/// rules have one home and are tested without a disk.
public enum SnapshotTransitions {
    /// The longest key or name: LMDB's default maximum key size.
    public static let keyLengthMaximum = 511
    /// The most bytes one label's key and value may hold together (containerd's `labels.Validate`).
    public static let labelLengthMaximum = 4096

    /// Prepare (`.active`) or View (`.view`): the snapshot to store under `key`.
    public static func create(
        kind: Snapshot.Kind, key: String, parentKey: String, labels: [String: String],
        existing: Snapshot?, parent: Snapshot?, id: UInt64, now: Timestamp
    ) throws(SnapshotError) -> Snapshot {
        precondition(kind != .committed, "snapshots are committed by commit, never created committed")
        try validate(key: key)
        try validate(labels: labels)
        if existing != nil { throw .alreadyExists("snapshot \(key): already exists") }
        var parentName: String?
        if !parentKey.isEmpty {
            guard let parent else { throw .notFound("parent snapshot \(parentKey): not found") }
            guard parent.kind == .committed else {
                throw .invalidArgument("parent \(parentKey) is not a committed snapshot: invalid argument")
            }
            parentName = parent.key
        }
        return Snapshot(key: key, id: id, kind: kind, parent: parentName, labels: labels, created: now, updated: now)
    }

    /// Commit: the committed snapshot to store under `name`; the caller deletes `key`.
    public static func commit(
        name: String, key: String, labels: [String: String], active: Snapshot?, existing: Snapshot?, usage: Usage,
        now: Timestamp
    ) throws(SnapshotError) -> Snapshot {
        try validate(key: name)
        try validate(labels: labels)
        guard let active else { throw .notFound("snapshot \(key): not found") }
        guard active.kind == .active else {
            throw .failedPrecondition("snapshot \(key) is not active: failed precondition")
        }
        if existing != nil { throw .alreadyExists("snapshot \(name): already exists") }
        return Snapshot(
            key: name, id: active.id, kind: .committed, parent: active.parent, labels: labels, created: now, updated: now,
            usage: usage)
    }

    /// Remove: the snapshot to forget, refused while it has children.
    public static func remove(key: String, snapshot: Snapshot?, hasChildren: Bool) throws(SnapshotError) -> Snapshot {
        guard let snapshot else { throw .notFound("snapshot \(key): not found") }
        if hasChildren {
            throw .failedPrecondition("cannot remove snapshot \(key) with child: failed precondition")
        }
        return snapshot
    }

    /// Update: `current` with the labels that `paths` name taken from `labels`.
    ///
    /// No paths replaces every label; `labels` replaces every label;
    /// `labels.K` sets K (or removes it when `labels` lacks K). Any other path
    /// names an immutable field.
    public static func update(
        key: String, labels: [String: String], paths: [String], current: Snapshot?, now: Timestamp
    ) throws(SnapshotError) -> Snapshot {
        guard var updated = current else { throw .notFound("snapshot \(key): not found") }
        if paths.isEmpty {
            updated.labels = labels
        }
        for path in paths {
            if path == "labels" {
                updated.labels = labels
            } else if path.hasPrefix("labels.") {
                let label = String(path.dropFirst("labels.".count))
                updated.labels[label] = labels[label]
            } else {
                throw .invalidArgument("cannot update \(path) field on snapshot \(key): invalid argument")
            }
        }
        try validate(labels: updated.labels)
        updated.updated = now
        return updated
    }

    /// Keys and names are untrusted: they only ever become LMDB keys, so
    /// they need to be non-empty, short enough and free of NUL.
    public static func validate(key: String) throws(SnapshotError) {
        if key.isEmpty { throw .invalidArgument("snapshot key must not be empty: invalid argument") }
        if key.utf8.count > keyLengthMaximum {
            throw .invalidArgument("snapshot key longer than \(keyLengthMaximum) bytes: invalid argument")
        }
        if key.utf8.contains(0) { throw .invalidArgument("snapshot key contains NUL: invalid argument") }
    }

    public static func validate(labels: [String: String]) throws(SnapshotError) {
        for (key, value) in labels {
            if key.isEmpty { throw .invalidArgument("label key must not be empty: invalid argument") }
            if key.utf8.count + value.utf8.count > labelLengthMaximum {
                throw .invalidArgument("label \(key) longer than \(labelLengthMaximum) bytes: invalid argument")
            }
        }
    }
}
