import Hummingbird
import RegistryCore
import RegistryStorage
import Synchronization

/// One request's hold on an upload session, shared with the blocking pool.
///
/// `Upload` cannot be copied and owns the session's lock (`flock`), so it
/// lives here, moved in by `init` and out by `suspend` or `commit` (or
/// closed when the handle goes away). Only one pool job touches it at a
/// time, since the request awaits each before starting the next; the mutex
/// states that to the compiler.
final class UploadHandle: Sendable {
    private let upload: Mutex<Upload?>
    let store: RegistryStore
    /// The size when this request opened the session: the truth for it.
    let openedSize: UInt64

    /// Opens the session, taking its lock (`uploadBusy` if another request holds it).
    init(_ store: RegistryStore, _ name: RepositoryName, _ id: UploadID) throws(StorageError) {
        self.store = store
        let opened = try store.uploads.open(name, id)
        openedSize = opened.size
        upload = Mutex(Optional(consume opened))
    }

    /// Appends chunks of a request body, in order, where the upload ends.
    func append(_ chunks: [ByteBuffer]) throws(StorageError) {
        try upload.withLock { (held: inout Upload?) throws(StorageError) in
            guard var current = held.take() else { preconditionFailure("append to an upload this request no longer holds") }
            var failure: StorageError?
            for chunk in chunks where failure == nil {
                failure = chunk.withUnsafeReadableBytes { bytes -> StorageError? in
                    do throws(StorageError) {
                        try current.append(bytes)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            held = consume current
            if let failure { throw failure }
        }
    }

    /// Syncs what was appended and keeps the hash for the next request;
    /// does nothing once the upload was committed.
    func suspend() throws(StorageError) {
        guard let held = take() else { return }
        try store.uploads.suspend(held)
    }

    /// Verifies the digest, moves the data into the blob store and links it
    /// into the repository. Returns the blob's size.
    func commit(as digest: Digest) throws(StorageError) -> UInt64 {
        guard let held = take() else { preconditionFailure("commit of an upload this request no longer holds") }
        return try store.commit(held, as: digest)
    }

    private func take() -> Upload? {
        upload.withLock { held in held.take() }
    }
}
