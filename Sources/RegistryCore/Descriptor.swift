/// A content descriptor (OCI image spec `descriptor.md`): what a manifest
/// says about a blob or a child manifest, and what a referrers listing says
/// about each referrer.
public struct Descriptor: Sendable, Equatable {
    public var mediaType: String
    public var digest: Digest
    /// Bytes; the spec's int64, never negative.
    public var size: Int64
    public var artifactType: String?
    public var annotations: [String: String]?
    /// Where a non-distributable ("foreign") layer can be fetched instead.
    public var urls: [String]?

    public init(
        mediaType: String, digest: Digest, size: Int64, artifactType: String? = nil, annotations: [String: String]? = nil,
        urls: [String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
        self.urls = urls
    }

    /// Layer media types whose content registries need not hold: clients
    /// fetch them from `urls` (Windows base layers, mostly).
    public static let nonDistributableMediaTypes: Set = [
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    ]

    /// A layer the registry does not need to have, as distribution decides:
    /// a non-distributable media type with at least one URL.
    public var isForeign: Bool {
        Self.nonDistributableMediaTypes.contains(mediaType) && !(urls ?? []).isEmpty
    }

    /// The descriptor as a JSON object, keys in the spec's order.
    public var json: String {
        var out = #"{"mediaType":"# + JSONText.quoted(mediaType)
        out += #","digest":"# + JSONText.quoted(digest.description)
        out += #","size":"# + String(size)
        if let artifactType { out += #","artifactType":"# + JSONText.quoted(artifactType) }
        if let annotations, !annotations.isEmpty { out += #","annotations":"# + JSONText.object(annotations) }
        if let urls, !urls.isEmpty { out += #","urls":["# + urls.map(JSONText.quoted).joined(separator: ",") + "]" }
        return out + "}"
    }
}
