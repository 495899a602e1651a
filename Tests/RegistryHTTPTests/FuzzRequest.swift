import Foundation
import TestSupport

/// One malformed request of the fuzz test, as raw bytes, with what its
/// answer must be.
struct FuzzRequest: Sendable {
    let kind: String
    let head: [UInt8]
    let body: [UInt8]
    /// Shut the sending side after the body (a client that stopped mid-body).
    var halfClose = false
    /// nil: anything but a 5xx. Empty: a 4xx. Otherwise a 4xx whose JSON
    /// body carries one of these codes.
    var codes: Set<String>?
    /// The server may close without answering (a lying or cut body, a
    /// request line HTTP itself cannot parse).
    var mayGoUnanswered = false

    static let hostileNames = [
        "..", "a/..", "../a", "a/../b", "a//b", "a/", "A/b", "a/B", "a/.b", "a/-b", "a/b_", "a/_b", "a__-b/c",
        String(repeating: "x", count: 256), "a/" + String(repeating: "y", count: 256),
        // 259 bytes: over the 255 of a whole name.
        (0..<65).map { _ in "abc" }.joined(separator: "/"), "a%2Fb", "%2e%2e/x", "a/%2e%2e", "%C3%A4/b", "a%00b", "a%20b",
    ]
    static let hostileTags = [
        String(repeating: "t", count: 129), ".a", "-a", "a%20b", "%2e%2e", "a%2Fb", "a%00", "%C3%A4", "a:b",
    ]
    static let lyingDigests = [
        "sha256:zz", "sha256:" + String(repeating: "a", count: 63), "sha256:" + String(repeating: "A", count: 64), "md5:abc", "sha256",
        ":" + String(repeating: "a", count: 64), "sha512:" + String(repeating: "b", count: 64), "sha256:%2e%2e%2f",
    ]

    /// A seeded malformed request against the repository `fuzz/app`, whose
    /// valid content `fixtures` describes.
    static func make(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<18: hostileName(&generator, fixtures)
        case 18..<28: hostileTag(&generator, fixtures)
        case 28..<43: lyingDigest(&generator, fixtures)
        case 43..<53: lyingLength(&generator, fixtures)
        case 53..<61: cutBody(&generator, fixtures)
        case 61..<67: badManifest(&generator, fixtures)
        default: random(&generator, fixtures)
        }
    }

    static func head(_ method: String, _ target: String, _ headers: [(String, String)] = [], length: Int?) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let length { text += "Content-Length: \(length)\r\n" }
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    private static func hostileName(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let name = hostileNames.randomElement(using: &generator)!
        let manifestType = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")]
        let (method, target, headers, body): (String, String, [(String, String)], [UInt8]) =
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: ("GET", "/v2/\(name)/tags/list", [], [])
            case 1: ("POST", "/v2/\(name)/blobs/uploads/", [], [])
            case 2: ("POST", "/v2/\(name)/blobs/uploads/?digest=\(fixtures.layerDigest)", [], fixtures.layer)
            case 3: ("PUT", "/v2/\(name)/manifests/v1", manifestType, fixtures.manifest)
            default: ("GET", "/v2/\(name)/blobs/\(fixtures.layerDigest)", [], [])
            }
        // Names HTTP routing never sees as one (`..`, `//`, a trailing `/`)
        // may be refused by the router: 404 without a body is fine.
        return FuzzRequest(
            kind: "hostile name", head: head(method, target, headers, length: body.count), body: body,
            codes: ["NAME_INVALID", "NAME_UNKNOWN", "BLOB_UNKNOWN", "UNSUPPORTED"])
    }

    private static func hostileTag(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let tag = hostileTags.randomElement(using: &generator)!
        let put = generator.chance(percent: 60)
        let body = put ? fixtures.manifest : []
        return FuzzRequest(
            kind: "hostile tag",
            head: head(
                put ? "PUT" : "GET", "/v2/fuzz/app/manifests/\(tag)",
                [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], length: body.count),
            // `a:b` reads as a digest of an unknown algorithm: UNSUPPORTED.
            body: body, codes: ["TAG_INVALID", "DIGEST_INVALID", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "UNSUPPORTED"])
    }

    private static func lyingDigest(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let bytes = pattern(Int.random(in: 0...3000, using: &generator), seed: generator.next())
        // A well-formed digest of other bytes, or one that does not parse.
        let digest =
            generator.chance(percent: 60)
            ? sha256(bytes + [1]) : lyingDigests.randomElement(using: &generator)!
        let target: String
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: target = "POST /v2/fuzz/app/blobs/uploads/?digest=\(digest)"
        case 1: target = "PUT /v2/fuzz/app/blobs/uploads/\(fixtures.sessions.randomElement(using: &generator)!)?digest=\(digest)"
        default:
            // A manifest PUT by a digest that is not its own.
            let manifestDigest = digest.hasPrefix("sha256:") && digest.count == 71 ? digest : sha256(bytes)
            return FuzzRequest(
                kind: "lying manifest digest",
                head: head(
                    "PUT", "/v2/fuzz/app/manifests/\(manifestDigest)", [("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                    length: fixtures.manifest.count), body: fixtures.manifest, codes: ["DIGEST_INVALID", "MANIFEST_INVALID"])
        }
        let parts = target.split(separator: " ", maxSplits: 1).map(String.init)
        return FuzzRequest(
            kind: "lying digest", head: head(parts[0], parts[1], [("Content-Type", "application/octet-stream")], length: bytes.count),
            body: bytes,
            codes: ["DIGEST_INVALID", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "SIZE_INVALID", "RANGE_INVALID", "UNSUPPORTED"])
    }

    /// A body shorter or longer than its `Content-Length` says.
    private static func lyingLength(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let bytes = pattern(Int.random(in: 2...40_000, using: &generator), seed: generator.next())
        let longer = generator.chance(percent: 50)
        let length =
            longer ? bytes.count + Int.random(in: 1...100_000, using: &generator) : Int.random(in: 0..<bytes.count, using: &generator)
        let target =
            generator.chance(percent: 50)
            ? "/v2/fuzz/app/blobs/uploads/?digest=\(sha256(bytes))"
            : "/v2/fuzz/app/blobs/uploads/\(fixtures.sessions.randomElement(using: &generator)!)"
        let method = target.contains("?") ? "POST" : "PATCH"
        // A shorter length makes a valid request of the prefix (a PATCH of it
        // is accepted) followed by garbage: anything but a 5xx.
        return FuzzRequest(
            kind: longer ? "Content-Length longer than the body" : "Content-Length shorter than the body",
            head: head(method, target, [("Content-Type", "application/octet-stream")], length: length), body: bytes, halfClose: true,
            codes: longer ? ["DIGEST_INVALID", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "SIZE_INVALID", "RANGE_INVALID"] : nil,
            mayGoUnanswered: true)
    }

    /// A body that stops mid-way: the client shuts its side and waits.
    private static func cutBody(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let length = Int.random(in: 2...60_000, using: &generator)
        let whole = generator.chance(percent: 30) ? fixtures.manifest : pattern(length, seed: UInt64(7))
        let sent = Array(whole.prefix(Int.random(in: 0..<whole.count, using: &generator)))
        let target: String
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: target = "PUT /v2/fuzz/app/manifests/cut"
        case 1: target = "POST /v2/fuzz/app/blobs/uploads/?digest=\(sha256(whole))"
        default: target = "PUT /v2/fuzz/app/blobs/uploads/\(fixtures.sessions.randomElement(using: &generator)!)?digest=\(sha256(whole))"
        }
        let parts = target.split(separator: " ", maxSplits: 1).map(String.init)
        return FuzzRequest(
            kind: "body cut mid-way",
            head: head(parts[0], parts[1], [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], length: whole.count),
            body: sent, halfClose: true, codes: [], mayGoUnanswered: true)
    }

    /// Manifests over the limit, not JSON, or naming blobs that are not there.
    private static func badManifest(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let body: [UInt8]
        var codes: Set<String> = ["MANIFEST_INVALID"]
        switch Int.random(in: 0..<40, using: &generator) {
        case 0:
            body = Array(repeating: UInt8(ascii: " "), count: 4 << 20) + Array("{}".utf8)
            codes = ["SIZE_INVALID"]
        case 1..<10: body = pattern(Int.random(in: 0...5000, using: &generator), seed: generator.next())
        case 10..<20: body = Array(fixtures.manifest.prefix(Int.random(in: 0..<fixtures.manifest.count, using: &generator)))
        case 20..<25: body = Array(#"[1,2,3]"#.utf8)
        case 25..<30: body = Array(#"{"schemaVersion":2}"#.utf8)
        default:
            let unknown = sha256(pattern(10, seed: generator.next()))
            let text = String(decoding: fixtures.manifest, as: UTF8.self)
            body = Array(text.replacingOccurrences(of: fixtures.layerDigest, with: unknown).utf8)
            codes = ["MANIFEST_BLOB_UNKNOWN"]
        }
        return FuzzRequest(
            kind: "bad manifest",
            head: head("PUT", "/v2/fuzz/app/manifests/bad", [FuzzFixtures.manifestType], length: body.count),
            body: body, codes: codes)
    }

    static let methods = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE", "FOO", "get", "CONNECT"]
    static let paths = [
        "/v2/", "/v2", "/", "/v3/x", "//v2//", "/v2/_catalog", "/v2/fuzz/junk/tags/list", "/v2/fuzz/junk/blobs/",
        "/v2/fuzz/junk/blobs/uploads/", "/v2/fuzz/junk/blobs/uploads/not-a-uuid",
        "/v2/fuzz/junk/blobs/uploads/00000000-0000-4000-8000-000000000000",
        "/v2/fuzz/junk/manifests/", "/v2/fuzz/junk/manifests/latest", "/v2/fuzz/junk/referrers/sha256:abc",
        "/v2/fuzz/junk/referrers/", "/v2/fuzz/junk/blobs/sha256:" + String(repeating: "0", count: 64), "/v2/fuzz/junk/x/y/z",
        "/v2/fuzz/junk/blobs/uploads/%2e%2e", "/v2/%2e%2e/%2e%2e/blobs/uploads/", "/v2/fuzz/junk/tags/list/extra", "*",
    ]
    static let queries = [
        "", "?n=-1", "?n=abc", "?n=99999999999999999999", "?last=%ff", "?digest=", "?mount=&from=", "?mount=x&from=..",
        "?artifactType=", "?a=b&a=c", "?%zz", "?n=0", "?n=1&last=zzz", "?digest=sha256:00&digest=sha256:11", "?tag=a&tag=..",
    ]
    static let headers: [(String, String)] = [
        ("Range", "bytes=5-1"), ("Range", "bytes=-"), ("Range", "bytes=0-0,1-1"), ("Range", "items=0-1"), ("Content-Range", "x-y"),
        ("Content-Range", "5-1"), ("Content-Range", "0-99999999999999999999"), ("Content-Type", "\u{1}"), ("Accept", "*/*;q=x"),
        ("Transfer-Encoding", "chunked"), ("Expect", "100-continue"), ("X-Junk", String(repeating: "j", count: 2000)),
    ]

    private static func random(_ generator: inout SeededGenerator, _ fixtures: FuzzFixtures) -> FuzzRequest {
        let method = methods.randomElement(using: &generator)!
        let target = paths.randomElement(using: &generator)! + queries.randomElement(using: &generator)!
        let extra = (0..<Int.random(in: 0...2, using: &generator)).map { _ in headers.randomElement(using: &generator)! }
        let body = generator.chance(percent: 30) ? pattern(Int.random(in: 1...2000, using: &generator), seed: UInt64(3)) : []
        // Transfer-Encoding without chunked framing, a bare `*`, a method
        // HTTP does not know, a control character: HTTP itself may refuse
        // the request and close.
        let rawHTTP =
            extra.contains { $0.0 == "Transfer-Encoding" || $0.1 == "\u{1}" } || target.hasPrefix("*")
            || ["CONNECT", "FOO", "get"].contains(method)
        return FuzzRequest(
            kind: "random request", head: head(method, target, extra, length: body.count), body: body, codes: nil, mayGoUnanswered: rawHTTP)
    }
}

/// Valid content the fuzz requests refer to, and the well-behaved client's round.
struct FuzzFixtures: Sendable {
    let layer: [UInt8]
    let layerDigest: String
    let manifest: [UInt8]
    /// Open upload sessions in `fuzz/app` for PATCH and PUT requests.
    let sessions: [String]

    static let manifestType = ("Content-Type", "application/vnd.oci.image.manifest.v1+json")

    static func push(through wire: HTTPWire) throws -> FuzzFixtures {
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let layer = pattern(10_000, seed: UInt64(99))
        for blob in [config, layer] { try pushBlob(blob, to: "fuzz/app", through: wire) }
        let manifest = Manifests.image(config: sha256(config), configSize: config.count, layers: [(sha256(layer), layer.count)])
        try expect(try wire.exchange("PUT", "/v2/fuzz/app/manifests/v1", headers: [manifestType], body: manifest), 201)
        var sessions: [String] = []
        for _ in 0..<4 {
            let reply = try wire.exchange("POST", "/v2/fuzz/app/blobs/uploads/")
            try expect(reply, 202)
            guard let id = reply.headers["docker-upload-uuid"] else { throw TestFailure("no upload id") }
            sessions.append(id)
        }
        return FuzzFixtures(layer: layer, layerDigest: sha256(layer), manifest: manifest, sessions: sessions)
    }

    /// One round of the well-behaved client in `fuzz/good`: a blob in
    /// chunks, a manifest, and both pulled back.
    static func pushAndPull(through wire: HTTPWire, round: Int) throws {
        let config = Array(#"{"architecture":"amd64","os":"linux","round":\#(round)}"#.utf8)
        let layer = pattern(30_000 + round, seed: UInt64(round))
        try pushBlob(config, to: "fuzz/good", through: wire)
        let start = try wire.exchange("POST", "/v2/fuzz/good/blobs/uploads/")
        try expect(start, 202)
        var location = start.headers["location"] ?? ""
        for piece in stride(from: 0, to: layer.count, by: 10_000) {
            let end = min(piece + 10_000, layer.count)
            let reply = try onSession {
                try wire.exchange(
                    "PATCH", location, headers: [("Content-Type", "application/octet-stream"), ("Content-Range", "\(piece)-\(end - 1)")],
                    body: Array(layer[piece..<end]))
            }
            try expect(reply, 202)
            location = reply.headers["location"] ?? ""
        }
        try expect(try onSession { try wire.exchange("PUT", location + "?digest=\(sha256(layer))") }, 201)
        let manifest = Manifests.image(config: sha256(config), configSize: config.count, layers: [(sha256(layer), layer.count)])
        try expect(try wire.exchange("PUT", "/v2/fuzz/good/manifests/r\(round % 5)", headers: [manifestType], body: manifest), 201)
        let pulled = try wire.exchange("GET", "/v2/fuzz/good/manifests/r\(round % 5)", headers: [("Accept", Manifests.ociManifest)])
        guard pulled.status == 200, pulled.body == manifest else { throw TestFailure("manifest pull: \(pulled)") }
        let blob = try wire.exchange("GET", "/v2/fuzz/good/blobs/\(sha256(layer))")
        guard blob.status == 200, blob.body == layer else { throw TestFailure("blob pull: \(blob)") }
    }

    /// A request on the client's own session, sent again (at most five times)
    /// when it is answered "upload in use". Nobody else uses the session:
    /// the in-process server shares its process with tests that spawn
    /// children, and a child holds a copy of every descriptor, the
    /// session's locked one included, from its fork to its exec. Nothing
    /// was written when that answer came, so sending again is safe.
    private static func onSession(_ request: () throws -> HTTPWire.Reply) throws -> HTTPWire.Reply {
        var reply = try request()
        for _ in 0..<5 where reply.status == 400 && String(decoding: reply.body, as: UTF8.self).contains("upload in use") {
            reply = try request()
        }
        return reply
    }

    private static func pushBlob(_ bytes: [UInt8], to name: String, through wire: HTTPWire) throws {
        try expect(
            try wire.exchange(
                "POST", "/v2/\(name)/blobs/uploads/?digest=\(sha256(bytes))", headers: [("Content-Type", "application/octet-stream")],
                body: bytes), 201)
    }

    private static func expect(_ reply: HTTPWire.Reply, _ status: Int) throws {
        guard reply.status == status else { throw TestFailure("expected \(status), got \(reply)") }
    }
}
