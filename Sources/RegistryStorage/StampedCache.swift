import Glibc
import Synchronization

/// Values read from directories, kept between requests, each valid only
/// while the directories it was read from are unchanged.
///
/// Listing a repository's 10,000 tags means 10,000 `readdir` entries, as many
/// `String`s and a sort: about 20 ms a request, for a page of 100. The result
/// is kept here with a `Stamp` of each directory taken before the read, and
/// served again while fresh `stat`s give the same stamps. Anything that adds,
/// removes or renames an entry (this process, docker-registry, `buse registry
/// gc`) changes the directory's mtime and ctime, and adding or removing a
/// subdirectory its link count.
///
/// A change in the same clock tick as the stamped times could leave a stamp
/// as it was, so a value is kept only when every directory's mtime and ctime
/// are over `settled` (a second) older than the clock read before the `stat`s;
/// until then every request reads the directories.
final class StampedCache<Value: Sendable>: Sendable {
    /// What identifies one state of a directory; nil stands for a missing one.
    struct Stamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var links: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        static func == (lhs: Stamp, rhs: Stamp) -> Bool {
            lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.links == rhs.links && lhs.size == rhs.size
                && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
                && lhs.changed.tv_sec == rhs.changed.tv_sec && lhs.changed.tv_nsec == rhs.changed.tv_nsec
        }

        /// The stamp of `path` now, or nil when it cannot be read.
        init?(_ path: String) {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            device = UInt64(status.st_dev)
            inode = UInt64(status.st_ino)
            links = UInt64(status.st_nlink)
            size = Int64(status.st_size)
            modified = status.st_mtim
            changed = status.st_ctim
        }

        /// Whether nothing changed the directory in the last `settled` nanoseconds before `now`.
        func isSettled(at now: timespec) -> Bool {
            func nanoseconds(_ time: timespec) -> Int { time.tv_sec * 1_000_000_000 + time.tv_nsec }
            return nanoseconds(now) - max(nanoseconds(modified), nanoseconds(changed)) > StampedCache.settled
        }
    }

    /// Nanoseconds a directory must have been left alone before a value read
    /// from it is kept: a second, far above the few milliseconds of a
    /// file-system timestamp's clock tick.
    static var settled: Int { 1_000_000_000 }
    /// Values kept at most; past this the cache is emptied and refills.
    static var capacity: Int { 256 }

    private let entries = Mutex<[String: (stamps: [Stamp?], value: Value)]>([:])

    init() {}

    /// The value `read` makes from the directories `paths` (the first of
    /// which names the entry), from the cache when none of them changed
    /// since it was kept.
    func value(of paths: [String], read: () throws(StorageError) -> Value) throws(StorageError) -> Value {
        try lookup(paths, read: read).value
    }

    /// `value(of:read:)`, saying whether the value was kept (rather than just read).
    func lookup(_ paths: [String], read: () throws(StorageError) -> Value) throws(StorageError) -> (value: Value, wasKept: Bool) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamps = paths.map { Stamp($0) }
        if let kept = entries.withLock({ $0[paths[0]] }), kept.stamps == stamps { return (kept.value, true) }
        let value = try read()
        if stamps.allSatisfy({ $0?.isSettled(at: now) ?? true }), stamps[0] != nil {
            entries.withLock { entries in
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
                entries[paths[0]] = (stamps, value)
            }
        }
        return (value, false)
    }
}
