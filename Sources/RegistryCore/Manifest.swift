/// What the registry needs to know about a manifest: its format, what it
/// references (so a PUT can check those exist), and its subject and artifact
/// type (for the referrers API). The bytes themselves are stored as sent;
/// parsing never re-encodes them, since the digest is over the exact bytes.
public struct Manifest: Sendable, Equatable {
    /// The largest manifest accepted, as distribution's default: manifests are
    /// read whole into memory, so they need a bound.
    public static let sizeMaximum = 4 * 1024 * 1024

    public var mediaType: ManifestMediaType
    /// Image manifests only.
    public var config: Descriptor?
    /// Image manifests only.
    public var layers: [Descriptor]
    /// Indexes and manifest lists only.
    public var manifests: [Descriptor]
    /// OCI only: the manifest this one refers to.
    public var subject: Descriptor?
    /// The manifest's `artifactType`, or for an image manifest without one,
    /// its config's media type (OCI distribution spec, referrers listing).
    public var artifactType: String?
    public var annotations: [String: String]?

    /// Blobs this manifest needs in the repository: config and layers, except
    /// foreign layers, which clients fetch from elsewhere (`Descriptor.isForeign`).
    public var referencedBlobs: [Descriptor] { (config.map { [$0] } ?? []) + layers.filter { !$0.isForeign } }

    public init(
        mediaType: ManifestMediaType, config: Descriptor? = nil, layers: [Descriptor] = [], manifests: [Descriptor] = [],
        subject: Descriptor? = nil, artifactType: String? = nil, annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.manifests = manifests
        self.subject = subject
        self.artifactType = artifactType
        self.annotations = annotations
    }
}
