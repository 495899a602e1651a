/// The manifest formats this registry accepts. Docker schema 1 is not among
/// them: it is deprecated, signed, and distribution 2.8 refuses it by default.
public enum ManifestMediaType: String, Sendable, CaseIterable {
    case ociManifest = "application/vnd.oci.image.manifest.v1+json"
    case ociIndex = "application/vnd.oci.image.index.v1+json"
    case dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    case dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

    /// Indexes and lists point at manifests; the others at a config and layers.
    public var isIndex: Bool { self == .ociIndex || self == .dockerManifestList }

    /// From a `Content-Type` value: parameters (`; charset=…`) and case ignored.
    public init?(contentType: String) {
        let essence = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingASCIISpaces().lowercased() } ?? ""
        self.init(rawValue: essence)
    }
}
