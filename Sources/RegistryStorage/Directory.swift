import Glibc

/// Directory syscalls with durability: every entry a directory gains or loses
/// is made durable by `fsync` on that directory, which is what POSIX asks for
/// and what ext4 and XFS honour.
enum Directory {
    /// `fsync(2)` on a directory, making its entries (creations, renames,
    /// removals) durable. Callers go through `Durability.sync`, which may
    /// sync the whole filesystem instead.
    static func fsync(_ path: String) throws(StorageError) {
        let directory = try DurableFile(path: path, flags: O_RDONLY | O_DIRECTORY)
        try directory.sync()
    }

    /// Creates `path` and any missing parents below `base` (which exists).
    ///
    /// Sync order (`SyncPolicy.each`): each `mkdir` is followed by an `fsync`
    /// of its parent, so that when this returns, the whole chain of new
    /// directories is durable; a later entry added to the leaf is made
    /// durable by the caller's own sync of the leaf. (`.grouped`: no sync
    /// here; the caller's `Durability.sync` syncs the whole filesystem.)
    static func create(_ path: String, below base: String, _ durability: Durability) throws(StorageError) {
        precondition(path.hasPrefix(base + "/"), "\(path) is not below \(base)")
        var current = base
        for component in path.dropFirst(base.count + 1).split(separator: "/") {
            let parent = current
            current += "/" + component
            if mkdir(current, 0o755) == 0 {
                if durability.syncsEachNewDirectory { try fsync(parent) }
            } else if errno != EEXIST {
                throw .system(operation: "mkdir", path: current, errno: errno)
            }
        }
    }

    /// `rename(2)`, atomic within one filesystem; an existing target is replaced.
    static func rename(_ source: String, to target: String) throws(StorageError) {
        guard Glibc.rename(source, target) == 0 else { throw .system(operation: "rename", path: source + " -> " + target, errno: errno) }
    }

    /// `unlink(2)`; false when there was nothing to remove.
    @discardableResult
    static func removeFile(_ path: String) throws(StorageError) -> Bool {
        if unlink(path) == 0 { return true }
        guard errno == ENOENT else { throw .system(operation: "unlink", path: path, errno: errno) }
        return false
    }

    /// Removes a link's directory once its link is gone, but only if it is
    /// empty: a concurrent push of the same link may have its temp file in
    /// it, or may already have renamed a new link into place, and removing
    /// the whole tree would fail that push or lose its acknowledged link.
    static func removeIfEmpty(_ path: String) {
        _ = rmdir(path)  // ENOTEMPTY, EEXIST or ENOENT: someone else's, or gone already
    }

    /// Removes a tree that nothing reads any more (already renamed out of
    /// sight or abandoned); no syncs, since losing the removal is harmless.
    static func removeTree(_ path: String) throws(StorageError) {
        for entry in try entries(path) {
            let child = path + "/" + entry.name
            if entry.isDirectory {
                try removeTree(child)
            } else {
                try removeFile(child)
            }
        }
        guard rmdir(path) == 0 || errno == ENOENT else { throw .system(operation: "rmdir", path: path, errno: errno) }
    }

    /// The names in a directory, without `.` and `..`; empty when it does not exist.
    static func entries(_ path: String) throws(StorageError) -> [(name: String, isDirectory: Bool)] {
        guard let stream = opendir(path) else {
            guard errno == ENOENT || errno == ENOTDIR else { throw .system(operation: "opendir", path: path, errno: errno) }
            return []
        }
        defer { closedir(stream) }
        var names: [(String, Bool)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != "." && name != ".." else { continue }
            var isDirectory = Int32(entry.pointee.d_type) == DT_DIR
            if Int32(entry.pointee.d_type) == DT_UNKNOWN { isDirectory = isDirectoryAt(path + "/" + name) }
            names.append((name, isDirectory))
        }
        return names
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    static func isDirectoryAt(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }
}
