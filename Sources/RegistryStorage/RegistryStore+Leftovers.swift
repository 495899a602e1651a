extension RegistryStore {
    /// Names of what a crash can leave behind: temp files of link and blob
    /// writes (`.tmp-…`, `.tmp-data-…`) and tag directories renamed aside for
    /// deletion (`.deleted-tag-…`). distribution never reads any of them, and
    /// no valid name, tag, digest or upload id starts with `.`.
    static let leftoverPrefixes = [".tmp-", ".deleted-tag-"]

    /// Removes crash leftovers everywhere under the registry; returns how
    /// many. Call it at startup, before serving: a temp file of a write in
    /// progress looks exactly like a leftover.
    ///
    /// A blob directory without `data` is a leftover too: a crash between
    /// its `mkdir` and the rename into it (or between the collector's
    /// `unlink` and `rmdir`). Nothing serves it, fsck calls it a partial
    /// blob, and while serving it is a push in progress.
    public func removeLeftovers() throws(StorageError) -> Int {
        var removed = try removeLeftovers(in: layout.base)
        for digest in try blobs.all() where !blobs.hasData(digest) {
            try Directory.removeTree(layout.blobDirectory(digest))
            removed += 1
        }
        return removed
    }

    private func removeLeftovers(in directory: String) throws(StorageError) -> Int {
        var removed = 0
        for entry in try Directory.entries(directory) {
            let path = directory + "/" + entry.name
            if Self.leftoverPrefixes.contains(where: entry.name.hasPrefix) {
                if entry.isDirectory { try Directory.removeTree(path) } else { try Directory.removeFile(path) }
                removed += 1
            } else if entry.isDirectory {
                removed += try removeLeftovers(in: path)
            }
        }
        return removed
    }
}
