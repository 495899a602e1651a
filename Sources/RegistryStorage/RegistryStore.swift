import Glibc
public import RegistryCore

/// The registry's storage on one directory, in distribution's layout (see
/// `Layout`): the global blob store, uploads, and repositories.
///
/// Every call blocks on file I/O; the HTTP layer runs them on a thread pool.
/// Everything a call changes is durable before it returns.
public struct RegistryStore: Sendable {
    public let layout: Layout
    public let blobs: BlobStore
    public let uploads: UploadStore
    /// Listings kept between calls while their directories are unchanged.
    let caches = Repository.Caches()

    /// Opens (creating if needed) the registry under `root`, which must be
    /// a directory or a symbolic link to one (an operator's /srv/registry
    /// is often a link onto a data disk; inside the root nothing is followed).
    public init(
        root: String, syncPolicy: SyncPolicy = .each, uploadSizeMaximum: UInt64 = UploadStore.sizeMaximumDefault
    ) throws(StorageError) {
        let layout = Layout(root: root, syncPolicy: syncPolicy)
        var status = stat()
        guard stat(layout.root, &status) == 0 else {
            throw .system(operation: "open registry root", path: layout.root, errno: errno)
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw .system(operation: "open registry root", path: layout.root, errno: ENOTDIR)
        }
        try Directory.create(layout.repositories, below: layout.root, layout.durability)
        try Directory.create(layout.blobs, below: layout.root, layout.durability)
        try layout.durability.sync(layout.blobs)
        self.layout = layout
        self.blobs = BlobStore(layout: layout)
        self.uploads = UploadStore(layout: layout, blobs: blobs, sizeMaximum: uploadSizeMaximum)
    }

    public func repository(_ name: RepositoryName) -> Repository {
        Repository(name: name, layout: layout, blobs: blobs, caches: caches)
    }

    /// Finishes an upload and links the blob into its repository: the whole of
    /// a successful final PUT. See `UploadStore.finish` and `Repository.linkLayer`
    /// for the sync order.
    ///
    /// The link is written under the blob's shard lock, taken by `finish`
    /// before the rename (`BlobShardLock`).
    public func commit(_ upload: consuming Upload, as digest: Digest) throws(StorageError) -> UInt64 {
        let repository = repository(upload.name)
        return try uploads.finish(upload, as: digest) { (digest: Digest) throws(StorageError) in try repository.linkLayer(digest) }
    }

    /// Cross-repository mount (`POST …/blobs/uploads/?mount=&from=`): links
    /// `digest` into `target` when `source` has it linked. Returns false when
    /// it does not (the caller then starts an ordinary upload, as the spec
    /// says). Without a `source`, the spec's automatic mount: with
    /// `automatic`, any stored blob is linked. That lets a client that can
    /// name a digest read a blob of any repository, which is no leak while
    /// every client may read every repository (no per-repository access
    /// control): turn it off when there is.
    public func mount(
        _ digest: Digest, from source: RepositoryName?, into target: RepositoryName, automatic: Bool = false
    ) throws(StorageError) -> Bool {
        if let source {
            guard try repository(source).hasLink(layout.layerLink(source, digest), to: digest) else { return false }
        } else if !automatic {
            return false
        }
        // Shared from the check to the link, as in `commit`.
        let shard = try BlobShardLock(digest, in: layout, exclusive: false)
        guard try blobs.size(of: digest) != nil else { return false }
        try repository(target).linkLayer(digest)
        _ = consume shard
        return true
    }

    /// Every repository name, sorted byte-wise (page with `PageRequest`).
    ///
    /// A repository is a directory holding `_manifests` or `_layers`;
    /// repositories nest (`a` and `a/b` can both exist), and no directory
    /// starting with `_` is entered. The whole tree is walked on each call,
    /// which is fine for thousands of repositories, not for millions.
    public func repositories() throws(StorageError) -> [String] {
        var names: [String] = []
        try collectRepositories(in: layout.repositories, prefix: "", into: &names)
        return names.sortedBytewise()
    }

    private func collectRepositories(in directory: String, prefix: String, into names: inout [String]) throws(StorageError) {
        let entries = try Directory.entries(directory)
        if !prefix.isEmpty, entries.contains(where: { $0.isDirectory && ($0.name == "_manifests" || $0.name == "_layers") }),
            RepositoryName.isValid(prefix)
        {
            names.append(prefix)
        }
        for entry in entries where entry.isDirectory && !entry.name.hasPrefix("_") && !entry.name.hasPrefix(".") {
            let name = prefix.isEmpty ? entry.name : prefix + "/" + entry.name
            try collectRepositories(in: directory + "/" + entry.name, prefix: name, into: &names)
        }
    }
}
