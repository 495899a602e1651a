import Glibc
import RegistryCore

@testable import RegistryStorage

/// A unique directory per test, removed when the test drops it. The
/// registry root is `<path>/root`, so a test can check that nothing was
/// written beside the root.
final class TemporaryDirectory {
    let path: String
    var root: String { path + "/root" }

    init() {
        var template = Array("/tmp/registry-storage-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        precondition(created != nil, "mkdtemp failed: errno \(errno)")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        precondition(mkdir(root, 0o755) == 0, "mkdir failed: errno \(errno)")
    }

    deinit { try? Directory.removeTree(path) }

    func store(syncPolicy: SyncPolicy = .each, uploadSizeMaximum: UInt64 = UploadStore.sizeMaximumDefault) throws -> RegistryStore {
        try RegistryStore(root: root, syncPolicy: syncPolicy, uploadSizeMaximum: uploadSizeMaximum)
    }

    /// Every path under the directory, relative to it, sorted.
    func allPaths() throws -> [String] {
        var paths: [String] = []
        func walk(_ directory: String, _ prefix: String) throws {
            for entry in try Directory.entries(directory) {
                let relative = prefix.isEmpty ? entry.name : prefix + "/" + entry.name
                paths.append(relative)
                if entry.isDirectory { try walk(directory + "/" + entry.name, relative) }
            }
        }
        try walk(path, "")
        return paths.sorted()
    }

    /// A file's text, or nil when it does not exist.
    func contents(_ relativeToRoot: String) throws -> String? {
        let path = root + "/" + relativeToRoot
        guard Directory.exists(path) else { return nil }
        return String(decoding: try DurableFile(path: path, flags: O_RDONLY).readAll(limit: 1 << 20), as: UTF8.self)
    }
}

/// Values the tests know are valid; a typo fails the test loudly.
enum Fixture {
    static func name(_ text: String) throws -> RepositoryName { try RepositoryName(validating: text) }
    static func tag(_ text: String) throws -> RegistryCore.Tag { try RegistryCore.Tag(validating: text) }
    static func sha256(_ bytes: [UInt8]) -> Digest { ContentHasher.digest(of: bytes, algorithm: .sha256) }
    static func sha512(_ bytes: [UInt8]) -> Digest { ContentHasher.digest(of: bytes, algorithm: .sha512) }

    /// Uploads `bytes` in chunks of `chunk` bytes and commits them into `name`.
    @discardableResult
    static func push(_ bytes: [UInt8], to name: RepositoryName, in store: RegistryStore, chunk: Int = 7) throws -> Digest {
        let id = try store.uploads.start(name, now: 1000)
        var upload = try store.uploads.open(name, id)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            try upload.append(Array(bytes[start..<min(start + chunk, bytes.count)]))
        }
        let digest = sha256(bytes)
        _ = try store.commit(upload, as: digest)
        return digest
    }

    /// An OCI image manifest over `config` and `layers`, optionally with a
    /// subject and an artifact type.
    static func imageManifest(
        config: Digest, layers: [Digest], subject: (Digest, Int)? = nil, artifactType: String? = nil,
        annotations: [String: String]? = nil
    ) -> [UInt8] {
        var fields = [
            #""schemaVersion":2"#, #""mediaType":"application/vnd.oci.image.manifest.v1+json""#,
            #""config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2}"#,
            #""layers":["#
                + layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0)","size":1}"# }
                .joined(separator: ",") + "]",
        ]
        if let artifactType { fields.append(#""artifactType":"\#(artifactType)""#) }
        if let (digest, size) = subject {
            fields.append(#""subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":\#(size)}"#)
        }
        if let annotations {
            let members = annotations.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }
            fields.append(#""annotations":{"# + members.joined(separator: ",") + "}")
        }
        return Array(("{" + fields.joined(separator: ",") + "}").utf8)
    }
}
