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

    public init(
        mediaType: String, digest: Digest, size: Int64, artifactType: String? = nil, annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
    }

    /// The descriptor as a JSON object, keys in the spec's order.
    public var json: String {
        var out = #"{"mediaType":"# + JSONText.quoted(mediaType)
        out += #","digest":"# + JSONText.quoted(digest.description)
        out += #","size":"# + String(size)
        if let artifactType { out += #","artifactType":"# + JSONText.quoted(artifactType) }
        if let annotations, !annotations.isEmpty { out += #","annotations":"# + JSONText.object(annotations) }
        return out + "}"
    }
}
