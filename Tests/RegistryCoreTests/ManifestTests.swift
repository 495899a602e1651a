import Testing

@testable import RegistryCore

@Suite struct ManifestTests {
    static let config = "sha256:" + String(repeating: "1", count: 64)
    static let layer = "sha256:" + String(repeating: "2", count: 64)
    static let child = "sha512:" + String(repeating: "3", count: 128)
    static let subject = "sha256:" + String(repeating: "4", count: 64)

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let ociManifest = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config)","size":7},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(layer)","size":32654}],
         "annotations":{"org.example":"yes"}}
        """

    @Test func ociImageManifestsYieldTheirConfigAndLayers() throws {
        let manifest = try Manifest.parse(Self.bytes(Self.ociManifest), contentType: "application/vnd.oci.image.manifest.v1+json")
        #expect(manifest.mediaType == .ociManifest)
        #expect(manifest.config?.digest.description == Self.config)
        #expect(manifest.layers.map(\.digest.description) == [Self.layer])
        #expect(manifest.layers.first?.size == 32654)
        #expect(manifest.referencedBlobs.count == 2)
        #expect(manifest.annotations == ["org.example": "yes"])
        // Without artifactType, the config's media type stands in for it.
        #expect(manifest.artifactType == "application/vnd.oci.image.config.v1+json")
        #expect(manifest.subject == nil)
    }

    @Test func artifactManifestsKeepTheirSubjectAndArtifactType() throws {
        let text = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom",
             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\(Self.config)","size":2},
             "layers":[],
             "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(Self.subject)","size":100}}
            """
        let manifest = try Manifest.parse(Self.bytes(text), contentType: nil)
        #expect(manifest.artifactType == "application/vnd.example.sbom")
        #expect(manifest.subject?.digest.description == Self.subject)
        #expect(manifest.layers.isEmpty)
    }

    @Test func ociIndexesYieldTheirChildren() throws {
        let text = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
             "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(Self.child)","size":500,
                           "platform":{"architecture":"amd64","os":"linux"}}]}
            """
        let manifest = try Manifest.parse(Self.bytes(text), contentType: "application/vnd.oci.image.index.v1+json; charset=utf-8")
        #expect(manifest.mediaType == .ociIndex)
        #expect(manifest.manifests.map(\.digest.description) == [Self.child])
        #expect(manifest.referencedBlobs.isEmpty)
        #expect(manifest.artifactType == nil)
    }

    @Test func dockerManifestsAndListsParse() throws {
        let manifest = """
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\(Self.config)","size":7},
             "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"\(Self.layer)","size":9}]}
            """
        #expect(try Manifest.parse(Self.bytes(manifest), contentType: nil).mediaType == .dockerManifest)
        let list = """
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
             "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"\(Self.child)","size":5}]}
            """
        let listType = "application/vnd.docker.distribution.manifest.list.v2+json"
        #expect(try Manifest.parse(Self.bytes(list), contentType: listType).mediaType == .dockerManifestList)
    }

    @Test func foreignLayersWithURLsNeedNotBeInTheRegistry() throws {
        let foreign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        let text = """
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\(Self.config)","size":7},
             "layers":[{"mediaType":"\(foreign)","digest":"\(Self.layer)","size":9,"urls":["https://example.com/l"]},
                       {"mediaType":"\(foreign)","digest":"\(Self.child)","size":9}]}
            """
        let manifest = try Manifest.parse(Self.bytes(text), contentType: nil)
        #expect(manifest.layers.first?.urls == ["https://example.com/l"])
        #expect(manifest.layers.map(\.isForeign) == [true, false])
        // Without URLs a foreign layer has nowhere else to come from, so it is checked.
        #expect(manifest.referencedBlobs.map(\.digest.description) == [Self.config, Self.child])
    }

    @Test func withoutAnyMediaTypeTheFormatIsInferred() throws {
        let index = #"{"schemaVersion":2,"manifests":[]}"#
        #expect(try Manifest.parse(Self.bytes(index), contentType: nil).mediaType == .ociIndex)
        let manifest = #"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(Self.config)","size":1},"layers":[]}"#
        #expect(try Manifest.parse(Self.bytes(manifest), contentType: nil).mediaType == .ociManifest)
        let dockerType = "application/vnd.docker.distribution.manifest.v2+json"
        #expect(try Manifest.parse(Self.bytes(manifest), contentType: dockerType).mediaType == .dockerManifest)
    }

    static let invalid: [(String, String?)] = [
        ("not json", nil),
        ("[1,2]", nil),
        ("", nil),
        (ociManifest, "application/vnd.docker.distribution.manifest.v2+json"),
        (ociManifest.replacingOccurrences("\"schemaVersion\":2", "\"schemaVersion\":1"), nil),
        (
            ociManifest.replacingOccurrences(
                ManifestMediaType.ociManifest.rawValue, "application/vnd.docker.distribution.manifest.v1+prettyjws"), nil
        ),
        (ociManifest.replacingOccurrences("application/vnd.oci.image.manifest.v1+json", "text/plain"), nil),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#, nil),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#, nil),
        (ociManifest.replacingOccurrences(config, "sha256:short"), nil),
        (ociManifest.replacingOccurrences(config, "md5:" + String(repeating: "1", count: 32)), nil),
        (ociManifest.replacingOccurrences("\"size\":7", "\"size\":-7"), nil),
        (ociManifest.replacingOccurrences("\"size\":7", "\"size\":\"7\""), nil),
        (ociManifest.replacingOccurrences("\"mediaType\":\"application/vnd.oci.image.config.v1+json\",", ""), nil),
        (ociManifest, "application/json"),
    ]

    @Test(arguments: invalid)
    func badManifestsAreManifestInvalid(_ text: String, _ contentType: String?) {
        do {
            let manifest = try Manifest.parse(Self.bytes(text), contentType: contentType)
            Issue.record("accepted \(manifest)")
        } catch {
            #expect(error.code == .manifestInvalid)
            #expect(error.detail["reason"] != nil)
        }
    }

    @Test func manifestsOverFourMebibytesAreRefusedBeforeParsing() {
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: Manifest.sizeMaximum + 1)
        #expect(throws: RegistryError(.manifestInvalid, detail: ["reason": "manifest larger than 4194304 bytes"])) {
            try Manifest.parse(huge, contentType: nil)
        }
    }

    @Test func descriptorsRenderAsJSON() throws {
        let descriptor = Descriptor(
            mediaType: "application/vnd.oci.image.manifest.v1+json", digest: try Digest(parsing: Self.subject), size: 10,
            artifactType: "a/b", annotations: ["k": "v\""])
        #expect(
            descriptor.json
                == #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(Self.subject)","size":10,"#
                + #""artifactType":"a/b","annotations":{"k":"v\""}}"#)
    }
}

extension String {
    /// A Foundation-free replace for building test inputs.
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
