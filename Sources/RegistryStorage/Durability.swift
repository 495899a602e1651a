import CSystemShims
import Glibc
import Threading

/// How the registry makes directory changes (new directories, renames,
/// removals) durable before it acknowledges anything. File contents are
/// `fsync`ed before they are renamed into place either way.
public enum SyncPolicy: String, Sendable, CaseIterable {
    /// `fsync` of every directory that gained or lost an entry, and of the
    /// parent of every new directory: POSIX's rule, one filesystem journal
    /// commit (and device flush) per directory. Right for a root that shares
    /// its filesystem with other programs.
    case each
    /// New directories are left unsynced, and each step that must be durable
    /// (a blob in place before a link names it; everything before the 201)
    /// ends with one `syncfs(2)` of the whole filesystem, shared by every
    /// commit waiting at the same moment (group commit). Right for a
    /// filesystem the registry has to itself (a buse volume): a pushed blob
    /// costs a few flushes instead of dozens. On a shared filesystem it also
    /// writes back other programs' dirty data.
    case grouped
}

/// The root's `SyncPolicy`, and for `.grouped` its group commit.
public final class Durability: Sendable {
    public let policy: SyncPolicy
    private let group: FilesystemSyncGroup

    public init(_ policy: SyncPolicy, root: String) {
        self.policy = policy
        group = FilesystemSyncGroup(root: root)
    }

    /// Whether `mkdir` must sync each parent itself (`.each`), or may leave
    /// it to the next `sync(_:)` of the step (`.grouped`).
    var syncsEachNewDirectory: Bool { policy == .each }

    /// Makes the entries of `directory` durable: its own `fsync` (`.each`),
    /// or the filesystem's, which also covers every directory created
    /// earlier in the step (`.grouped`).
    func sync(_ directory: String) throws(StorageError) {
        switch policy {
        case .each: try Directory.fsync(directory)
        case .grouped: try group.sync()
        }
    }

    /// `syncfs` calls made so far (for tests: concurrent commits share them).
    public var filesystemSyncs: UInt64 { group.completed }
}

/// One `syncfs(2)` for everyone waiting: a caller needs a sync that *starts*
/// after its call (one already running may have begun before its changes),
/// so it waits for the next one, which one waiting caller runs for all.
final class FilesystemSyncGroup: Sendable {
    private struct State {
        var descriptor: Int32 = -1
        var started: UInt64 = 0
        var finished: UInt64 = 0
        var running = false
        /// The newest sync that failed, and its errno.
        var failure: (sync: UInt64, errno: Int32)?
    }

    private enum Turn {
        case covered
        case run(descriptor: Int32, sync: UInt64)
        case cannotOpen(errno: Int32)
    }

    private let root: String
    private let lock = ConditionLock(State())

    init(root: String) {
        self.root = root
    }

    deinit {
        lock.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
    }

    var completed: UInt64 { lock.withLock { $0.finished } }

    func sync() throws(StorageError) {
        let needed = lock.withLock { $0.started + 1 }
        loop: while true {
            let turn = lock.wait(until: { $0.finished >= needed || !$0.running }) { state -> Turn in
                if state.finished >= needed { return .covered }
                if state.descriptor < 0 {
                    // Opened once, on first use: the root exists by then.
                    state.descriptor = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    if state.descriptor < 0 { return .cannotOpen(errno: errno) }
                }
                state.running = true
                state.started += 1
                return .run(descriptor: state.descriptor, sync: state.started)
            }
            switch turn {
            case .covered:
                break loop
            case .cannotOpen(let code):
                throw .system(operation: "open", path: root, errno: code)
            case .run(let descriptor, let sync):
                let failed = buse_syncfs(descriptor) != 0 ? errno : 0
                lock.withLock { state in
                    state.running = false
                    state.finished = sync
                    if failed != 0 { state.failure = (sync, failed) }
                }
                lock.broadcast()
            }
        }
        // A failed sync at or after the one this caller needed may have
        // lost its changes: report it (conservatively, if it was a later one).
        if let failure = lock.withLock({ $0.failure }), failure.sync >= needed {
            throw .system(operation: "syncfs", path: root, errno: failure.errno)
        }
    }
}
