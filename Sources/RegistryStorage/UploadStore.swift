import Glibc
public import RegistryCore
import Synchronization

/// Upload sessions in distribution's layout: `_uploads/<id>/data` holds the
/// bytes received so far and `startedat` the RFC 3339 start time (an upload
/// without `startedat` is unknown, as in distribution). We keep no
/// `hashstates`: after a restart the partial file is hashed again.
///
/// Between requests the running hash is kept in memory, keyed by upload and
/// valid only for the file size it was taken at, so a chunked upload of n
/// chunks hashes each byte once, not n times. All calls block (file I/O).
public final class UploadStore: Sendable {
    /// The largest blob one upload may build: a bound on what one client can
    /// make us write, well above any real layer.
    public static let sizeMaximumDefault: UInt64 = 64 << 30
    /// Hash checkpoints kept in memory; past this, the oldest half is dropped
    /// (those uploads re-hash from disk on their next request).
    static let checkpointsMaximum = 4096

    let layout: Layout
    let blobs: BlobStore
    public let sizeMaximum: UInt64
    private let checkpoints = Mutex(Checkpoints())

    /// Running hashes by upload; `sequence` orders them for eviction.
    private struct Checkpoints: Sendable {
        var entries: [String: (size: UInt64, hasher: ContentHasher, sequence: UInt64)] = [:]
        var nextSequence: UInt64 = 0
    }

    init(layout: Layout, blobs: BlobStore, sizeMaximum: UInt64 = sizeMaximumDefault) {
        self.layout = layout
        self.blobs = blobs
        self.sizeMaximum = sizeMaximum
    }

    /// Starts a session and returns its id (a random lowercase UUID).
    ///
    /// Sync order: `_uploads/<id>` created (parents synced) → empty `data`
    /// created → `startedat` written atomically (its own sync order) → which
    /// also syncs the upload directory, making `data` durable with it.
    public func start(_ name: RepositoryName, now epochSeconds: Int64) throws(StorageError) -> UploadID {
        let id = Self.randomID()
        try Directory.create(layout.upload(name, id), below: layout.base, layout.durability)
        _ = try DurableFile(path: layout.uploadData(name, id), flags: O_WRONLY | O_CREAT | O_EXCL)
        try LinkFile.write(
            RFC3339.format(epochSeconds: epochSeconds), to: layout.uploadStartedAt(name, id), below: layout.base, layout.durability)
        return id
    }

    /// Opens a session for appending, with the hash of what it holds: from
    /// memory when the checkpoint matches the file size, else by re-reading
    /// the file (after a restart, or after a request that died mid-chunk).
    public func open(_ name: RepositoryName, _ id: UploadID) throws(StorageError) -> Upload {
        let file = try lockedData(name, id)
        let size = try file.size()
        var hasher: ContentHasher
        if let checkpoint = checkpoints.withLock({ $0.entries[Self.key(name, id)] }), checkpoint.size == size {
            hasher = checkpoint.hasher
        } else {
            hasher = ContentHasher(.sha256)
            try hasher.update(from: file, length: size)
        }
        return Upload(name: name, id: id, file: file, size: size, hasher: hasher, sizeMaximum: sizeMaximum)
    }

    /// The upload's data file, opened and under our exclusive lock.
    private func lockedData(_ name: RepositoryName, _ id: UploadID) throws(StorageError) -> DurableFile {
        guard Directory.exists(layout.uploadStartedAt(name, id)) else { throw .uploadUnknown(id) }
        let file: DurableFile
        do {
            file = try DurableFile(path: layout.uploadData(name, id), flags: O_RDWR)
        } catch {
            if case .system(_, _, ENOENT) = error { throw .uploadUnknown(id) }
            throw error
        }
        guard try file.lockExclusively() else { throw .uploadBusy(id) }
        // Between our open and our lock, a request holding the lock may have
        // finished the upload and renamed this very file into the blob store;
        // appending to it then would corrupt a committed blob. Finishing and
        // cancelling happen under the lock, so once we hold it, the file is
        // still the upload's exactly when the path still names it.
        guard try file.isStill(at: layout.uploadData(name, id)), Directory.exists(layout.uploadStartedAt(name, id)) else {
            throw .uploadUnknown(id)
        }
        return file
    }

    /// The bytes received so far, for `GET` on an upload and for `Range`.
    public func size(_ name: RepositoryName, _ id: UploadID) throws(StorageError) -> UInt64 {
        guard Directory.exists(layout.uploadStartedAt(name, id)) else { throw .uploadUnknown(id) }
        var status = stat()
        guard stat(layout.uploadData(name, id), &status) == 0 else { throw .uploadUnknown(id) }
        return UInt64(status.st_size)
    }

    /// Ends a request's use of an upload after its chunk: the data is synced
    /// (the client is told its bytes are safe only after this) and the hash
    /// is kept for the next request.
    public func suspend(_ upload: consuming Upload) throws(StorageError) {
        try upload.file.sync()
        let (key, size, hasher) = (Self.key(upload.name, upload.id), upload.size, upload.hasher)
        checkpoints.withLock { checkpoints in
            checkpoints.nextSequence += 1
            checkpoints.entries[key] = (size, hasher, checkpoints.nextSequence)
            if checkpoints.entries.count > Self.checkpointsMaximum {
                let oldest = checkpoints.entries.sorted { $0.value.sequence < $1.value.sequence }.prefix(checkpoints.entries.count / 2)
                for (key, _) in oldest { checkpoints.entries[key] = nil }
            }
        }
    }

    /// Removes a session and its bytes; refused while a request appends to it.
    public func cancel(_ name: RepositoryName, _ id: UploadID) throws(StorageError) {
        let file = try lockedData(name, id)
        try remove(name, id)
        _ = consume file
    }

    /// Removes a session whose lock the caller holds (or that nobody can use).
    func remove(_ name: RepositoryName, _ id: UploadID) throws(StorageError) {
        forget(name, id)
        try Directory.removeTree(layout.upload(name, id))
    }

    func forget(_ name: RepositoryName, _ id: UploadID) {
        _ = checkpoints.withLock { $0.entries.removeValue(forKey: Self.key(name, id)) }
    }

    private static func key(_ name: RepositoryName, _ id: UploadID) -> String { name.value + "@" + id.value }

    private static func randomID() -> UploadID {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
        let hex = String(bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined())
        let parts = [
            hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20),
        ]
        // The text is built to the UUID grammar above, so validation cannot fail.
        return (try? UploadID(validating: parts.joined(separator: "-"))) ?? { fatalError("generated an invalid upload id") }()
    }
}
