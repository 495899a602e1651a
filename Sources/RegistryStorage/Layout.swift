import RegistryCore

/// distribution's storage layout (`registry/storage/paths.go`), so a root
/// written here can be served by docker-registry 2.8 and the reverse:
///
///     <root>/docker/registry/v2/
///         blobs/<alg>/<first two hex>/<hex>/data
///         repositories/<name>/
///             _layers/<alg>/<hex>/link
///             _manifests/revisions/<alg>/<hex>/link
///             _manifests/tags/<tag>/current/link
///             _manifests/tags/<tag>/index/<alg>/<hex>/link
///             _uploads/<id>/{data,startedat}
///             _referrers/<subject alg>/<subject hex>/<alg>/<hex>/link   (ours)
///
/// `_referrers` is our addition so a referrers listing reads one directory.
/// distribution never sees it: its catalog walk skips every directory whose
/// name starts with `_` except `_layers`, and its repository code only opens
/// the paths above. Names, tags, digests and upload ids are validated types,
/// none of which can hold `..`, an empty component or a leading `_`, so every
/// path built here stays under the root.
public struct Layout: Sendable {
    /// The directory the registry owns (a mounted buse volume in production).
    public let root: String
    /// `<root>/docker/registry/v2`
    public let base: String

    /// How directory changes under the root are made durable.
    public let durability: Durability

    public init(root: String, syncPolicy: SyncPolicy = .each) {
        let trimmed = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.root = trimmed
        self.base = trimmed + "/docker/registry/v2"
        durability = Durability(syncPolicy, root: trimmed)
    }

    var blobs: String { base + "/blobs" }
    var repositories: String { base + "/repositories" }

    /// `blobs/<alg>/<first two hex>`, which holds many blobs (see `BlobShardLock`).
    func blobShard(_ digest: Digest) -> String {
        "\(blobs)/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))"
    }

    func blobDirectory(_ digest: Digest) -> String { blobShard(digest) + "/" + digest.encoded }

    func blobData(_ digest: Digest) -> String { blobDirectory(digest) + "/data" }

    func repository(_ name: RepositoryName) -> String { repositories + "/" + name.value }

    func layerLink(_ name: RepositoryName, _ digest: Digest) -> String {
        "\(repository(name))/_layers/\(digest.algorithm.rawValue)/\(digest.encoded)/link"
    }

    func manifests(_ name: RepositoryName) -> String { repository(name) + "/_manifests" }

    func revisionLink(_ name: RepositoryName, _ digest: Digest) -> String {
        "\(manifests(name))/revisions/\(digest.algorithm.rawValue)/\(digest.encoded)/link"
    }

    func tags(_ name: RepositoryName) -> String { manifests(name) + "/tags" }

    func tag(_ name: RepositoryName, _ tag: Tag) -> String { tags(name) + "/" + tag.value }

    func tagCurrentLink(_ name: RepositoryName, _ tag: Tag) -> String { self.tag(name, tag) + "/current/link" }

    func tagIndexLink(_ name: RepositoryName, _ tag: Tag, _ digest: Digest) -> String {
        "\(self.tag(name, tag))/index/\(digest.algorithm.rawValue)/\(digest.encoded)/link"
    }

    func uploads(_ name: RepositoryName) -> String { repository(name) + "/_uploads" }

    func upload(_ name: RepositoryName, _ id: UploadID) -> String { uploads(name) + "/" + id.value }

    func uploadData(_ name: RepositoryName, _ id: UploadID) -> String { upload(name, id) + "/data" }

    func uploadStartedAt(_ name: RepositoryName, _ id: UploadID) -> String { upload(name, id) + "/startedat" }

    func referrers(_ name: RepositoryName, _ subject: Digest) -> String {
        "\(repository(name))/_referrers/\(subject.algorithm.rawValue)/\(subject.encoded)"
    }

    func referrerLink(_ name: RepositoryName, _ subject: Digest, _ referrer: Digest) -> String {
        "\(referrers(name, subject))/\(referrer.algorithm.rawValue)/\(referrer.encoded)/link"
    }
}
