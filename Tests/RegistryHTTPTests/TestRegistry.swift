import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RegistryCore
import RegistryHTTP

/// A registry on a fresh directory, driven in process: `.router` feeds
/// requests straight to the responder through HummingbirdTesting (bodies
/// arrive in 32 KiB chunks, so streaming is exercised), `.live` runs the
/// server on a free loopback port and talks HTTP to it.
final class TestRegistry: Sendable {
    let path: String
    let server: RegistryServer

    /// How the test reaches the registry.
    enum Transport: Sendable {
        case router
        case live
    }

    /// How long a live request may see no answer before it counts as hung.
    /// Not a speed bound: HummingbirdTesting's own live client gives a whole
    /// request 20 s, which a 3.5 MiB blob round trip overran once while the
    /// full suite loaded both cores; only a hang should fail a test.
    static let liveHangGuard: Duration = .seconds(600)

    init(logger: Logger? = nil, automaticMount: Bool = true, access: AccessPolicy? = nil) throws {
        var template = Array("/tmp/registry-http-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard created != nil else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var quiet = Logger(label: "registry-test")
        quiet.logLevel = .critical
        var configuration = RegistryServer.Configuration(root: path, port: 0)
        configuration.automaticMount = automaticMount
        configuration.access = access
        server = try RegistryServer(configuration, logger: logger ?? quiet)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Runs `body` with a client of this registry.
    func test<Value: Sendable>(
        _ transport: Transport = .router, _ body: @Sendable (Client) async throws -> Value
    ) async throws
        -> Value
    {
        switch transport {
        case .router:
            return try await server.application().test(.router) { client in try await body(Client(.router(client))) }
        case .live:
            return try await Self.live(server) { client in try await body(client) }
        }
    }

    /// Serves `server` on a free loopback port for the length of `body`,
    /// with a keep-alive client whose only limit is the hang guard.
    static func live<Value: Sendable>(
        _ server: RegistryServer, _ body: @Sendable (Client) async throws -> Value
    ) async throws
        -> Value
    {
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let application = server.application(onListening: { port in
            listening.yield(port)
            listening.finish()
        })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            defer { group.cancelAll() }
            guard let port = await ports.first(where: { _ in true }), port > 0 else {
                throw TestFailure("the registry did not start listening")
            }
            let connection = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: liveHangGuard))
            connection.connect()
            do {
                let value = try await body(Client(.live(connection, port: port)))
                try await connection.shutdown()
                return value
            } catch {
                try? await connection.shutdown()
                throw error
            }
        }
    }
}

/// An answer, from either transport.
struct Reply: Sendable {
    let head: HTTPResponse
    let body: ByteBuffer
    var status: HTTPResponse.Status { head.status }
    var headers: HTTPFields { head.headerFields }
}

/// The test client with the registry's common steps.
struct Client: Sendable {
    enum Connection: Sendable {
        case router(any TestClientProtocol)
        case live(TestClient, port: Int)
    }

    let connection: Connection

    init(_ connection: Connection) { self.connection = connection }

    /// The server's port, when it listens on one.
    var port: Int? {
        switch connection {
        case .router(let client): client.port
        case .live(_, let port): port
        }
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: [UInt8]? = nil
    ) async throws -> Reply {
        let bytes = body.map { ByteBuffer(bytes: $0) }
        switch connection {
        case .router(let client):
            let response = try await client.execute(uri: uri, method: method, headers: headers, body: bytes)
            return Reply(head: response.head, body: response.body)
        case .live(let client, _):
            var headers = headers
            headers[.connection] = "keep-alive"
            let response = try await client.execute(
                TestClient.Request(uri, method: method, authority: "localhost", headers: headers, body: bytes))
            return Reply(head: response.head, body: response.body ?? ByteBuffer())
        }
    }

    /// Pushes a blob in one POST (`?digest=`) and returns its digest.
    @discardableResult
    func pushBlob(_ bytes: [UInt8], to name: String) async throws -> String {
        let digest = sha256(bytes)
        let response = try await request(.post, "/v2/\(name)/blobs/uploads/?digest=\(digest)", body: bytes)
        guard response.status == .created else { throw TestFailure("blob push answered \(response.status)") }
        return digest
    }

    /// Pushes an image manifest with one config and these layers under `reference`.
    @discardableResult
    func pushImage(
        to name: String, reference: String, layers: [[UInt8]], subject: String? = nil
    ) async throws -> (
        digest: String, bytes: [UInt8]
    ) {
        let configBytes = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let config = try await pushBlob(configBytes, to: name)
        var layerDigests: [(String, Int)] = []
        for layer in layers { layerDigests.append((try await pushBlob(layer, to: name), layer.count)) }
        let manifest = Manifests.image(config: config, configSize: configBytes.count, layers: layerDigests, subject: subject)
        let response = try await request(
            .put, "/v2/\(name)/manifests/\(reference)", headers: [.contentType: Manifests.ociManifest], body: manifest)
        guard response.status == .created else { throw TestFailure("manifest push answered \(response.status): \(response.text)") }
        return (sha256(manifest), manifest)
    }
}

/// Manifests as a client writes them.
enum Manifests {
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"

    static func image(
        config: String, configSize: Int, layers: [(String, Int)], subject: String? = nil, artifactType: String? = nil
    )
        -> [UInt8]
    {
        let layerJSON = layers.map {
            #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0.0)","size":\#($0.1)}"#
        }
        var text = #"{"schemaVersion":2,"mediaType":"\#(ociManifest)""#
        if let artifactType { text += #","artifactType":"\#(artifactType)""# }
        text += #","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":\#(configSize)}"#
        text += #","layers":[\#(layerJSON.joined(separator: ","))]"#
        if let subject { text += #","subject":{"mediaType":"\#(ociManifest)","digest":"\#(subject)","size":100}"# }
        return Array((text + "}").utf8)
    }
}

func sha256(_ bytes: [UInt8]) -> String {
    "sha256:" + SHA256.hash(data: bytes).map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// Deterministic bytes of any length (a counter pattern, not compressible to nothing).
///
/// Written through a pointer, not with `map`: in a debug build a closure
/// call per byte made a 16 MiB blob cost seconds of one of the cooperative
/// pool's two threads, which this registry's own requests need too.
func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var index = 0
        while index < count {
            buffer[index] = UInt8(truncatingIfNeeded: index &* 31 &+ Int(seed) &+ index >> 8)
            index += 1
        }
        initialized = count
    }
}

extension Reply {
    var text: String { String(buffer: body) }
    var bytes: [UInt8] { Array(body.readableBytesView) }
    /// The first error code of a registry error body, or nil.
    var errorCode: String? {
        guard let range = text.range(of: #""code":""#) else { return nil }
        let rest = text[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Header names the tests read (`HTTPField` itself is not re-exported).
typealias HeaderName = HTTPFields.Element.Name

extension HeaderName {
    static let link = Self("Link")!
    static let contentDigest = Self("Docker-Content-Digest")!
    static let uploadUUID = Self("Docker-Upload-UUID")!
    static let apiVersion = Self("Docker-Distribution-API-Version")!
    static let ociSubject = Self("OCI-Subject")!
    static let filtersApplied = Self("OCI-Filters-Applied")!
    static let ociTag = Self("OCI-Tag")!
}
