import Glibc

/// Files that survive a crash once written: the data is fsynced before the
/// rename that publishes it, and the directory after, so a reader sees
/// either nothing or the whole file, never a torn one.
enum DurableFile {
    /// Writes `text` to `path` through a temporary file in the same directory.
    static func write(_ text: String, to path: String) throws(SealedLayerError) {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system("create \(temporary)", errno: errno) }
        var bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let code = errno
                close(fd)
                unlink(temporary)
                throw .system("write \(temporary)", errno: code)
            }
            written += count
        }
        try publish(fd, temporary, as: path)
    }

    /// fsyncs and closes `fd` (the file at `temporary`), renames it to
    /// `path` and fsyncs the directory; the temporary file is removed on failure.
    static func publish(_ fd: Int32, _ temporary: String, as path: String) throws(SealedLayerError) {
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            unlink(temporary)
            throw .system("fsync \(temporary)", errno: code)
        }
        // close reports a delayed write error that fsync did not.
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporary)
            throw .system("close \(temporary)", errno: code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .system("rename \(temporary) to \(path)", errno: code)
        }
        try syncDirectory(of: path)
    }

    /// fsyncs the directory holding `path`, making a rename or create in it durable.
    static func syncDirectory(of path: String) throws(SealedLayerError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open \(directory)", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .system("fsync \(directory)", errno: errno) }
    }
}
