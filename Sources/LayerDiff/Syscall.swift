import CSystemShims
import Glibc

/// One thin wrapper per system call the differ makes, on paths held as raw
/// bytes: a file name on Linux is any bytes but `/` and NUL, not
/// necessarily UTF-8, and a layer must carry it unchanged. None follows a
/// symbolic link: an upper directory's contents are untrusted.
enum Syscall {
    static let slash = UInt8(ascii: "/")

    /// Runs `body` with `path` as a NUL-terminated C string.
    static func withPath<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (path + [0]).withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }

    static func text(_ path: [UInt8]) -> String { String(decoding: path, as: UTF8.self) }

    /// The corresponding C function is `lstat`; nil when nothing is at `path`
    /// (ENOENT, or ENOTDIR when a component is not a directory).
    static func status(_ path: [UInt8]) throws(LayerDiffError) -> stat? {
        var status = stat()
        let result = withPath(path) { lstat($0, &status) }
        guard result == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw LayerDiffError("stat \(text(path))", errno: errno)
        }
        return status
    }

    /// The names in a directory without `.` and `..`, in byte order
    /// (`opendir`, `readdir`), so that a diff's order never depends on the
    /// filesystem's.
    static func names(_ path: [UInt8]) throws(LayerDiffError) -> [[UInt8]] {
        guard let directory = withPath(path, { opendir($0) }) else {
            throw LayerDiffError("open directory \(text(path))", errno: errno)
        }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The corresponding C function is `readlink`: a symbolic link's target, unresolved.
    static func linkTarget(_ path: [UInt8]) throws(LayerDiffError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = withPath(path) { cPath in
            buffer.withUnsafeMutableBufferPointer { readlink(cPath, $0.baseAddress!, $0.count) }
        }
        guard count >= 0 else { throw LayerDiffError("read link \(text(path))", errno: errno) }
        return Array(buffer.prefix(count))
    }

    /// The corresponding C function is `llistxattr`: the names of the extended
    /// attributes of `path` itself (none where the filesystem has none).
    static func attributeNames(_ path: [UInt8]) throws(LayerDiffError) -> [[UInt8]] {
        let bytes = try sized("list extended attributes of \(text(path))") { buffer, size in
            withPath(path) { llistxattr($0, buffer, size) }
        }
        guard let bytes else { return [] }
        return bytes.split(separator: 0).map(Array.init)
    }

    /// The corresponding C function is `lgetxattr`: nil when `path` has no such attribute.
    static func attribute(_ path: [UInt8], _ name: [UInt8]) throws(LayerDiffError) -> [UInt8]? {
        try sized("read extended attribute \(text(name)) of \(text(path))") { buffer, size in
            withPath(path) { cPath in withPath(name) { lgetxattr(cPath, $0, buffer, size) } }
        }
    }

    /// Calls an xattr function first for its size, then with a buffer,
    /// again if the value grew in between (ERANGE). Nil for ENODATA/ENOTSUP.
    private static func sized(
        _ what: String, _ call: (UnsafeMutablePointer<CChar>?, Int) -> Int
    ) throws(LayerDiffError) -> [UInt8]? {
        while true {
            let size = call(nil, 0)
            if size < 0 {
                if errno == ENODATA || errno == ENOTSUP { return nil }
                throw LayerDiffError(what, errno: errno)
            }
            var buffer = [CChar](repeating: 0, count: max(size, 1))
            let count = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, size) }
            if count >= 0 { return buffer.prefix(count).map { UInt8(bitPattern: $0) } }
            if errno == ERANGE { continue }
            if errno == ENODATA || errno == ENOTSUP { return nil }
            throw LayerDiffError(what, errno: errno)
        }
    }

    /// The corresponding C function is `open`, read-only, refusing a symbolic link.
    static func openForReading(_ path: [UInt8]) throws(LayerDiffError) -> Int32 {
        let descriptor = withPath(path) { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard descriptor >= 0 else { throw LayerDiffError("open \(text(path))", errno: errno) }
        return descriptor
    }
}
