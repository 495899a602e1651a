public import RegistryCore

/// A manifest as stored: its exact bytes, digest and media type.
public struct StoredManifest: Sendable, Equatable {
    public let digest: Digest
    public let bytes: [UInt8]
    /// From the manifest's own `mediaType` (or its shape, see `Manifest.parse`);
    /// nil for content this registry cannot parse (a schema 1 manifest that
    /// docker-registry stored, say), which the HTTP layer serves as is.
    public let mediaType: String?
    /// The parsed manifest, when it parses.
    public let manifest: Manifest?
}
