public import RegistryCore

/// One repository's view of the store: its links to blobs (`_layers`), its
/// manifests and tags (`_manifests`) and its referrers index (`_referrers`).
///
/// A repository exists once it has a `_layers` or `_manifests` directory.
/// Every method blocks (file I/O) and every change is durable before it
/// returns; the order of syncs is written next to each.
public struct Repository: Sendable {
    public let name: RepositoryName
    let layout: Layout
    let blobs: BlobStore
    let caches: Caches

    /// Listings read from directories, kept by the store for every repository (see `StampedCache`).
    struct Caches: Sendable {
        /// Sorted tags, by the `tags/` directory.
        let tags = StampedCache<[String]>()
        /// Every referrer of a subject, unfiltered and sorted, by its `_referrers/` directory.
        let referrers = StampedCache<[Descriptor]>()
    }

    init(name: RepositoryName, layout: Layout, blobs: BlobStore, caches: Caches) {
        self.name = name
        self.layout = layout
        self.blobs = blobs
        self.caches = caches
    }

    /// Whether anything was ever pushed here.
    public var exists: Bool {
        Directory.isDirectoryAt(layout.repository(name) + "/_layers") || Directory.isDirectoryAt(layout.manifests(name))
    }

    /// Links a blob that is in the blob store into this repository (after an
    /// upload, or a cross-repository mount). Linking twice is harmless.
    ///
    /// Sync order: see `LinkFile.write` (parents, temp file, rename, directory).
    public func linkLayer(_ digest: Digest) throws(StorageError) {
        guard try blobs.size(of: digest) != nil else { throw .blobUnknown(digest) }
        try LinkFile.write(digest.description, to: layout.layerLink(name, digest), below: layout.base, layout.durability)
    }

    /// The size of a blob this repository may serve, or nil. As in
    /// distribution's blob service, only a layer link makes a blob visible
    /// (manifests are served by the manifest endpoints).
    public func blobSize(_ digest: Digest) throws(StorageError) -> UInt64? {
        guard try hasLink(layout.layerLink(name, digest), to: digest) else { return nil }
        return try blobs.size(of: digest)
    }

    /// Opens a blob this repository may serve.
    public func openBlob(_ digest: Digest) throws(StorageError) -> BlobReader {
        guard try blobSize(digest) != nil else { throw .blobUnknown(digest) }
        return try blobs.open(digest)
    }

    /// Removes the repository's link to a blob (`DELETE /v2/<name>/blobs/<digest>`);
    /// the blob itself stays for garbage collection, as in distribution.
    public func unlinkLayer(_ digest: Digest) throws(StorageError) {
        guard try LinkFile.remove(layout.layerLink(name, digest), layout.durability) else { throw .blobUnknown(digest) }
        Directory.removeIfEmpty(LinkFile.parent(of: layout.layerLink(name, digest)))
    }

    /// Whether `path` is a link to `digest` (a link to anything else is damage).
    func hasLink(_ path: String, to digest: Digest) throws(StorageError) -> Bool {
        guard let linked = try LinkFile.readDigest(path) else { return false }
        guard linked == digest else { throw .corruptLink(path: path) }
        return true
    }
}
