import Glibc
import RegistryCore

/// Small files replaced atomically: distribution's `link` files (the digest
/// string, `sha256:<hex>`, no newline, exactly what distribution's
/// `blobStore.link` writes) and `startedat`.
enum LinkFile {
    /// Links hold one digest; anything longer is damage.
    static let sizeMaximum = 256

    /// Writes `contents` to `path` so that a reader sees the old file or the
    /// new one, never a mix, and the new one survives a crash once this returns.
    ///
    /// Sync order: parents created (each `mkdir` followed by `fsync` of its
    /// parent) → temp file written and `fsync`ed → `rename` over `path` →
    /// `fsync` of the directory, which makes the rename durable.
    ///
    /// A DELETE of the same link removes its directory when that is empty
    /// (``Directory/removeIfEmpty(_:)``), which can happen between the
    /// `mkdir` here and the temp file's creation: then the directory is made
    /// again, a few times at most. Once the temp file exists the directory
    /// is not empty, so it stays until the rename.
    static func write(_ contents: String, to path: String, below base: String, _ durability: Durability) throws(StorageError) {
        let directory = parent(of: path)
        let temporary = directory + "/.tmp-" + String(UInt64.random(in: .min ... .max), radix: 16)
        do throws(StorageError) {
            let file = try createInDirectoryThatMayVanish(temporary, directory: directory, below: base, durability)
            try file.write(Array(contents.utf8), at: 0)
            try file.sync()
            try Directory.rename(temporary, to: path)
        } catch {
            _ = try? Directory.removeFile(temporary)
            throw error
        }
        try durability.sync(directory)
    }

    private static func createInDirectoryThatMayVanish(
        _ temporary: String, directory: String, below base: String, _ durability: Durability
    ) throws(StorageError) -> DurableFile {
        var attempts = 0
        while true {
            try Directory.create(directory, below: base, durability)
            do {
                return try DurableFile(path: temporary, flags: O_WRONLY | O_CREAT | O_EXCL)
            } catch {
                attempts += 1
                guard case .system(_, _, let code) = error, code == ENOENT, attempts < 8 else { throw error }
            }
        }
    }

    /// The digest in a link file; nil when there is no such file.
    static func readDigest(_ path: String) throws(StorageError) -> Digest? {
        guard let text = try read(path) else { return nil }
        do throws(DigestError) {
            return try Digest(parsing: text)
        } catch {
            throw .corruptLink(path: path)
        }
    }

    /// The file's text; nil when there is no such file.
    static func read(_ path: String) throws(StorageError) -> String? {
        guard let file = try DurableFile.openIfPresent(path) else { return nil }
        return String(decoding: try file.readAll(limit: sizeMaximum), as: UTF8.self)
    }

    /// Removes a file and makes the removal durable (`unlink` → `fsync` of its
    /// directory); false when there was nothing to remove.
    @discardableResult
    static func remove(_ path: String, _ durability: Durability) throws(StorageError) -> Bool {
        guard try Directory.removeFile(path) else { return false }
        try durability.sync(parent(of: path))
        return true
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}
