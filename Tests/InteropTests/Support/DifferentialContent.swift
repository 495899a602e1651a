import Foundation

/// The blobs and manifests of the registry differential, with their
/// digests (computed by `sha256sum`: the interop tests link no crypto).
struct DifferentialContent: Sendable {
    struct Digests: Sendable {
        var monolithic = "", streamed = "", chunked = "", config = "", absent = ""
        var first = "", second = "", third = "", referrer = ""
    }

    let monolithic = RegistryImageLayout.generated(64, seed: 9)
    let streamed = RegistryImageLayout.generated(1000, seed: 1)
    let chunked = RegistryImageLayout.generated(300, seed: 2)
    let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
    /// Bytes no step pushes: their digest names a blob neither server has.
    let absentBlob = Array("absent".utf8)
    var first: [UInt8] = [], second: [UInt8] = [], third: [UInt8] = []
    var missing: [UInt8] = [], referrer: [UInt8] = [], oversized: [UInt8] = []
    var digests = Digests()

    func chunk(_ range: Range<Int>) -> [UInt8] { Array(chunked[range]) }

    static func make(in directory: TemporaryDirectory) async throws -> DifferentialContent {
        var content = DifferentialContent()
        var digests = Digests()
        digests.monolithic = try await sha256(content.monolithic, in: directory)
        digests.streamed = try await sha256(content.streamed, in: directory)
        digests.chunked = try await sha256(content.chunked, in: directory)
        digests.config = try await sha256(content.config, in: directory)
        digests.absent = try await sha256(content.absentBlob, in: directory)
        let layers = [(digests.streamed, content.streamed.count), (digests.chunked, content.chunked.count)]
        let config = (digests.config, content.config.count)
        content.first = manifest(config: config, layers: layers)
        content.second = manifest(config: config, layers: layers, annotation: "second")
        content.third = manifest(config: config, layers: layers, annotation: "third")
        content.missing = manifest(config: config, layers: [(digests.absent, content.absentBlob.count)])
        digests.first = try await sha256(content.first, in: directory)
        digests.second = try await sha256(content.second, in: directory)
        digests.third = try await sha256(content.third, in: directory)
        content.referrer = manifest(
            config: config, layers: [], annotation: "signature", subject: (digests.first, content.first.count))
        digests.referrer = try await sha256(content.referrer, in: directory)
        // Over buse's 4 MiB limit, and over 2.8's.
        content.oversized = manifest(config: config, layers: layers, annotation: String(repeating: "x", count: 5 << 20))
        content.digests = digests
        return content
    }

    /// An OCI image manifest; with a subject it is an artifact that refers to it.
    static func manifest(
        config: (String, Int), layers: [(String, Int)], annotation: String? = nil, subject: (String, Int)? = nil
    ) -> [UInt8] {
        let type = "application/vnd.oci.image.manifest.v1+json"
        var text = #"{"schemaVersion":2,"mediaType":"\#(type)""#
        if subject != nil { text += #","artifactType":"application/vnd.example.signature""# }
        text += #","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config.0)","size":\#(config.1)}"#
        let layerJSON = layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0.0)","size":\#($0.1)}"# }
        text += #","layers":[\#(layerJSON.joined(separator: ","))]"#
        if let subject { text += #","subject":{"mediaType":"\#(type)","digest":"\#(subject.0)","size":\#(subject.1)}"# }
        if let annotation { text += #","annotations":{"test":"\#(annotation)"}"# }
        return Array((text + "}").utf8)
    }

    static func sha256(_ bytes: [UInt8], in directory: TemporaryDirectory) async throws -> String {
        let file = directory.unique("digest")
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let result = try await runChecked("sha256sum", [file], in: directory)
        return "sha256:" + result.standardOutput.prefix(64)
    }
}
