#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Parsing manifest bytes. Every failure is `MANIFEST_INVALID` with a detail
/// saying what was wrong, since the client sent the bytes.
extension Manifest {
    /// - Parameter contentType: the PUT's `Content-Type`, or nil when reading a
    ///   stored manifest. When both it and the body's `mediaType` are present
    ///   they must agree; when neither is, the format is inferred as
    ///   distribution does (`manifests` means an OCI index, else an OCI image
    ///   manifest).
    public static func parse(_ bytes: [UInt8], contentType: String?) throws(RegistryError) -> Manifest {
        guard bytes.count <= sizeMaximum else {
            throw invalid("manifest larger than \(sizeMaximum) bytes")
        }
        let raw: RawManifest
        do {
            raw = try JSONDecoder().decode(RawManifest.self, from: Data(bytes))
        } catch {
            throw invalid("not a JSON manifest object")
        }
        let mediaType = try resolveMediaType(raw, contentType: contentType)
        guard raw.schemaVersion == 2 else { throw invalid("schemaVersion must be 2") }
        var manifest = Manifest(mediaType: mediaType, annotations: raw.annotations)
        if mediaType.isIndex {
            guard raw.config == nil, raw.layers == nil, let manifests = raw.manifests else {
                throw invalid("an index has manifests and no config or layers")
            }
            manifest.manifests = try manifests.map(descriptor)
            manifest.artifactType = raw.artifactType
        } else {
            guard raw.manifests == nil, let config = raw.config, let layers = raw.layers else {
                throw invalid("an image manifest has a config and layers and no manifests")
            }
            manifest.config = try descriptor(config)
            manifest.layers = try layers.map(descriptor)
            manifest.artifactType = raw.artifactType ?? manifest.config?.mediaType
        }
        // Docker formats have no subject; a stray field there is ignored, as
        // distribution's decoder would.
        if mediaType == .ociManifest || mediaType == .ociIndex {
            manifest.subject = try raw.subject.map(descriptor)
        }
        return manifest
    }

    private static func resolveMediaType(_ raw: RawManifest, contentType: String?) throws(RegistryError) -> ManifestMediaType {
        let declared = contentType.flatMap { $0.isEmpty ? nil : $0 }
        if let body = raw.mediaType, let declared, ManifestMediaType(contentType: declared)?.rawValue != body {
            throw invalid("mediaType \(body) does not match Content-Type \(declared)")
        }
        if let text = raw.mediaType ?? declared {
            guard let mediaType = ManifestMediaType(contentType: text) else { throw invalid("unsupported manifest media type \(text)") }
            return mediaType
        }
        return raw.manifests != nil ? .ociIndex : .ociManifest
    }

    private static func descriptor(_ raw: RawDescriptor) throws(RegistryError) -> Descriptor {
        guard let mediaType = raw.mediaType, !mediaType.isEmpty else { throw invalid("descriptor without mediaType") }
        guard let size = raw.size, size >= 0 else { throw invalid("descriptor without a valid size") }
        guard let digestText = raw.digest else { throw invalid("descriptor without digest") }
        let digest: Digest
        do throws(DigestError) {
            digest = try Digest(parsing: digestText)
        } catch {
            throw invalid("descriptor digest \(digestText.prefix(200)) is not usable")
        }
        return Descriptor(
            mediaType: mediaType, digest: digest, size: size, artifactType: raw.artifactType, annotations: raw.annotations, urls: raw.urls)
    }

    private static func invalid(_ reason: String) -> RegistryError {
        RegistryError(.manifestInvalid, detail: ["reason": reason])
    }
}

/// The JSON shape shared by all four formats, every field optional so that
/// missing fields are reported by `parse` in words rather than by the decoder.
private struct RawManifest: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var artifactType: String?
    var config: RawDescriptor?
    var layers: [RawDescriptor]?
    var manifests: [RawDescriptor]?
    var subject: RawDescriptor?
    var annotations: [String: String]?
}

private struct RawDescriptor: Decodable {
    var mediaType: String?
    var digest: String?
    var size: Int64?
    var artifactType: String?
    var annotations: [String: String]?
    var urls: [String]?
}
