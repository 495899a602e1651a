import Glibc
import SnapshotterCore

/// The few directory-tree operations the store needs, over POSIX calls.
/// None follows a symbolic link: a snapshot's contents are untrusted.
enum FileTree {
    /// Makes each directory (parents first) with mode 0755 exactly, whatever
    /// the umask (containerd's suite runs with umask 0 and checks 0755).
    static func makeDirectories(_ paths: [String]) throws(SnapshotStoreError) {
        for path in paths {
            guard mkdir(path, 0o755) == 0 else { throw SnapshotStoreError("create \(path)", errno: errno) }
            guard chmod(path, 0o755) == 0 else { throw SnapshotStoreError("chmod \(path)", errno: errno) }
        }
    }

    /// The names in a directory, without `.` and `..`.
    static func entries(_ path: String) throws(SnapshotStoreError) -> [String] {
        guard let directory = opendir(path) else { throw SnapshotStoreError("open \(path)", errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes `path` and everything under it; a missing path is not an error.
    static func remove(_ path: String) throws(SnapshotStoreError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw SnapshotStoreError("stat \(path)", errno: errno)
        }
        if status.st_mode & S_IFMT == S_IFDIR {
            // overlayfs leaves `work/work` with mode 0: make it readable first.
            chmod(path, 0o700)
            for name in try entries(path) { try remove(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw SnapshotStoreError("remove \(path)", errno: errno) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw SnapshotStoreError("remove \(path)", errno: errno) }
        }
    }

    /// containerd's `fs.DiskUsage`: 512-byte blocks allocated and inodes
    /// used under `path` (itself included), a hard-linked inode counted once.
    static func usage(_ path: String) throws(SnapshotStoreError) -> Usage {
        struct Inode: Hashable {
            var device: UInt64
            var number: UInt64
        }
        var seen = Set<Inode>()
        var usage = Usage(size: 0, inodes: 0)
        func visit(_ path: String) throws(SnapshotStoreError) {
            var status = stat()
            guard lstat(path, &status) == 0 else { throw SnapshotStoreError("stat \(path)", errno: errno) }
            if seen.insert(Inode(device: UInt64(status.st_dev), number: UInt64(status.st_ino))).inserted {
                usage.inodes += 1
                usage.size += Int64(status.st_blocks) * 512
            }
            if status.st_mode & S_IFMT == S_IFDIR {
                for name in try entries(path) { try visit(path + "/" + name) }
            }
        }
        try visit(path)
        return usage
    }
}
