import Glibc
public import RegistryCore

extension Repository {
    /// Every tag, sorted byte-wise; `NAME_UNKNOWN` for a repository that does
    /// not exist. Page the result with `PageRequest.page(of:)`.
    ///
    /// The sorted list is kept while `tags/` is unchanged (`StampedCache`).
    public func tags() throws(StorageError) -> [String] {
        guard exists else { throw .nameUnknown(name) }
        let directory = layout.tags(name)
        return try caches.tags.value(of: [directory]) { () throws(StorageError) in
            try Directory.entries(directory).filter { $0.isDirectory && Tag.isValid($0.name) }.map(\.name).sortedBytewise()
        }
    }

    /// Removes a tag; the manifest it pointed at stays.
    ///
    /// The tag directory is renamed out of `tags/` into `_manifests/` under a
    /// hidden name (distribution reads neither), both directories are synced,
    /// and only then is the renamed tree removed, unsynced: the tag vanishes
    /// from listings in one atomic, durable step.
    public func deleteTag(_ tag: Tag) throws(StorageError) {
        guard Directory.exists(layout.tagCurrentLink(name, tag)) else { throw .manifestUnknown(.tag(tag)) }
        let trash = layout.manifests(name) + "/.deleted-tag-" + String(UInt64.random(in: .min ... .max), radix: 16)
        try Directory.rename(layout.tag(name, tag), to: trash)
        try layout.durability.sync(layout.tags(name))
        try layout.durability.sync(layout.manifests(name))
        try Directory.removeTree(trash)
    }
}
