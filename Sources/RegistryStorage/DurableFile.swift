import CSystemShims
import Glibc

/// One open file, closed exactly once, with the syscalls storage needs.
///
/// Every call blocks; storage runs on the HTTP layer's thread pool, never on
/// the cooperative pool. Errors carry the path and errno (`StorageError.system`).
struct DurableFile: ~Copyable {
    let descriptor: Int32
    let path: String

    /// `open(2)` with `O_CLOEXEC` always added, so no descriptor leaks into a child.
    init(path: String, flags: Int32, mode: mode_t = 0o644) throws(StorageError) {
        let descriptor = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        self.descriptor = descriptor
        self.path = path
    }

    /// Opens `path` read-only; nil when there is no such file (ENOENT, or
    /// ENOTDIR: a directory on the way is a file or gone), which readers of
    /// the store meet whenever a collection or a removal got there first.
    static func openIfPresent(_ path: String) throws(StorageError) -> DurableFile? {
        do {
            return try DurableFile(path: path, flags: O_RDONLY)
        } catch {
            if case .system(_, _, let code) = error, code == ENOENT || code == ENOTDIR { return nil }
            throw error
        }
    }

    deinit { Glibc.close(descriptor) }

    /// Writes all of `bytes` at `offset` (`pwrite(2)`, retried on short writes and EINTR).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            guard let base = bytes.baseAddress else { return }
            let written = pwrite(descriptor, base + done, bytes.count - done, off_t(offset) + off_t(done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .system(operation: "pwrite", path: path, errno: errno) }
            done += written
        }
    }

    /// Reads up to `buffer.count` bytes at `offset` (`pread(2)`); fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(StorageError) -> Int {
        var done = 0
        while done < buffer.count {
            guard let base = buffer.baseAddress else { return 0 }
            let count = pread(descriptor, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw .system(operation: "pread", path: path, errno: errno) }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Starts writing `length` bytes at `offset` back to the disk without
    /// waiting (`sync_file_range(2)`), so the `fsync` at commit finds little
    /// left. Advisory: a failure changes nothing, `sync` still decides.
    func startWriteback(at offset: UInt64, length: UInt64) {
        _ = buse_start_writeback(descriptor, offset, length)
    }

    /// `fsync(2)`: data and metadata on stable storage.
    func sync() throws(StorageError) {
        guard fsync(descriptor) == 0 else { throw .system(operation: "fsync", path: path, errno: errno) }
    }

    /// Sets the modification (and access) time to now (`futimens(2)`).
    func touch() throws(StorageError) {
        guard futimens(descriptor, nil) == 0 else { throw .system(operation: "futimens", path: path, errno: errno) }
    }

    /// The size from `fstat(2)`.
    func size() throws(StorageError) -> UInt64 {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .system(operation: "fstat", path: path, errno: errno) }
        return UInt64(status.st_size)
    }

    /// Cuts the file back to `size` bytes (`ftruncate(2)`).
    func truncate(to size: UInt64) throws(StorageError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw .system(operation: "ftruncate", path: path, errno: errno) }
    }

    /// Whether `path` still names this open file (same device and inode).
    func isStill(at path: String) throws(StorageError) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(descriptor, &open) == 0 else { throw .system(operation: "fstat", path: self.path, errno: errno) }
        guard stat(path, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// Takes an exclusive `flock(2)` without waiting; false when another holder has it.
    func lockExclusively() throws(StorageError) -> Bool {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
        guard errno == EWOULDBLOCK else { throw .system(operation: "flock", path: path, errno: errno) }
        return false
    }

    /// The whole file, for small files (links, manifests up to their limit).
    func readAll(limit: Int) throws(StorageError) -> [UInt8] {
        let size = Int(try size())
        guard size <= limit else { throw .system(operation: "read (file larger than \(limit) bytes)", path: path, errno: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try read(into: &bytes, range: 0..<size, at: 0)
        return Array(bytes.prefix(count))
    }
}
