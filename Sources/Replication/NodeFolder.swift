import Foundation
import Glibc
public import Journal
import Synchronization

/// A node's replication state on disk, one folder per volume:
///
///     state.json     the ``VolumeState``, replaced atomically and synced
///     journal/       the LMDB transaction log (records, bitmap, activity log)
///     lock           held (flock) by the one process that has the node open
///     control.sock   the running process's status and verify endpoint
///
/// The lock keeps two processes (a replica and a promote, two primaries) from
/// using the same node at once.
public final class NodeFolder: Sendable {
    public let path: String
    /// The held lock file; -1 once released.
    private let lockDescriptor: Mutex<Int32>
    /// Numbers the states saved, in the order their changes were made.
    private let versions = Atomic<UInt64>(0)
    /// The newest version on disk. Held while state.json is written, so
    /// saves run one at a time (they share one temporary file).
    private let saved = Mutex<UInt64>(0)

    /// Makes `path` and its missing parents, as `mkdir -p` does, and says
    /// which one failed and why (Foundation's createDirectory reported a
    /// file in the way as "NSCocoaErrorDomain error 512", naming neither).
    static func makeDirectories(_ path: String) throws(ReplicationError) {
        // An empty path makes nothing here, and the lock and the state
        // would then land at the filesystem's root ("/lock").
        guard !path.isEmpty else { throw .state("the state folder's path is empty") }
        var made = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            made += "/" + component
            if mkdir(made, 0o755) == 0 { continue }
            let code = errno
            var status = stat()
            if code == EEXIST, stat(made, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR { continue }
            let reason = code == EEXIST ? "not a directory" : String(cString: strerror(code))
            throw .state("cannot create the state folder \(path): \(made): \(reason)")
        }
    }

    /// Opens (creating) the folder and takes its lock.
    public init(path: String) throws(ReplicationError) {
        self.path = path
        try Self.makeDirectories(path)
        let lockPath = path + "/lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .state("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            let owner = holder.isEmpty ? "" : " (pid \(holder))"
            throw .state("the state folder \(path) is in use by another buse process\(owner); stop it first")
        }
        ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        lockDescriptor = Mutex(descriptor)
    }

    deinit { unlock() }

    /// Lets another process open the node: called when a primary or replica
    /// closes (and by the end of the process in any case).
    public func unlock() {
        lockDescriptor.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }

    public var statePath: String { path + "/state.json" }
    public var journalPath: String { path + "/journal" }
    public var controlSocketPath: String { path + "/control.sock" }

    public func loadState() throws(ReplicationError) -> VolumeState? {
        guard let data = FileManager.default.contents(atPath: statePath) else { return nil }
        do {
            return try JSONDecoder().decode(VolumeState.self, from: data)
        } catch {
            throw .state("\(statePath) is unreadable: \(error)")
        }
    }

    /// Replaces state.json atomically and durably with `state`.
    public func save(_ state: VolumeState) throws(ReplicationError) {
        try save(state, version: nextVersion())
    }

    /// A number for a change to the volume state, taken under the lock the
    /// change is made under, so that numbers order changes.
    func nextVersion() -> UInt64 {
        versions.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Saves `state`, numbered by ``nextVersion()``, unless a newer version
    /// is on disk already; either way, when this returns, this version or
    /// a newer one is durable. A running primary saves outside the lock its
    /// writes take (an fsync takes milliseconds), so two saves may race: the
    /// number keeps the older state from replacing the newer on disk. Every
    /// change is made to the one state in memory, so a newer version holds
    /// the older one's changes.
    func save(_ state: VolumeState, version: UInt64) throws(ReplicationError) {
        try saved.withLock { saved throws(ReplicationError) in
            guard version > saved else { return }
            try replaceStateFile(with: state)
            saved = version
        }
    }

    /// Replaces state.json atomically and durably: write a temporary file,
    /// sync it, rename it over the old one, sync the folder.
    private func replaceStateFile(with state: VolumeState) throws(ReplicationError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(state) else { throw .state("cannot encode the volume state") }
        let temporary = statePath + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .state("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == data.count, synced == 0 else { throw .state("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        guard rename(temporary, statePath) == 0 else { throw .state("cannot replace \(statePath): \(String(cString: strerror(errno)))") }
        let folder = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            fsync(folder)
            close(folder)
        }
    }

    public func openJournal(volumeSize: UInt64, settings: JournalSettings = JournalSettings()) throws(ReplicationError) -> Journal {
        do {
            return try Journal(
                path: journalPath, volumeSize: volumeSize, limits: settings.limits, inline: settings.inline, afterSync: settings.afterSync)
        } catch {
            throw .journal(error)
        }
    }
}

/// How a node's transaction log is opened: its bounds, and for the
/// simulation, inline commits and a hook after each sync.
public struct JournalSettings: Sendable {
    public var limits = Journal.Limits()
    public var inline = false
    public var afterSync: (@Sendable () -> Void)?
    public init() {}
}
