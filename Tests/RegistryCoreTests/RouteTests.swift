import Testing

@testable import RegistryCore

@Suite struct RouteTests {
    static let hex = String(repeating: "c", count: 64)
    static let digestText = "sha256:" + hex
    static let uploadID = "0f8fad5b-d9cb-469f-a165-70867728950e"

    static func name(_ text: String) -> RepositoryName {
        // Only called with names the test itself knows are valid.
        (try? RepositoryName(validating: text)) ?? { fatalError("bad test name \(text)") }()
    }

    static func digest() -> Digest {
        (try? Digest(parsing: digestText)) ?? { fatalError("bad test digest") }()
    }

    static func tag(_ text: String) -> RegistryCore.Tag {
        (try? RegistryCore.Tag(validating: text)) ?? { fatalError("bad test tag \(text)") }()
    }

    static func upload() -> UploadID {
        (try? UploadID(validating: uploadID)) ?? { fatalError("bad test upload id") }()
    }

    static let routes: [(String, String, Route)] = [
        ("GET", "/v2/", .base),
        ("GET", "/v2", .base),
        ("HEAD", "/v2/", .base),
        ("GET", "/v2/_catalog", .catalog(PageRequest())),
        ("GET", "/v2/_catalog?n=10&last=a%2Fb", .catalog(PageRequest(count: 10, last: "a/b"))),
        ("GET", "/v2/library/ubuntu/tags/list", .listTags(name("library/ubuntu"), PageRequest())),
        ("GET", "/v2/a/tags/list?n=2&last=v1", .listTags(name("a"), PageRequest(count: 2, last: "v1"))),
        ("GET", "/v2/a/b/blobs/" + digestText, .getBlob(name("a/b"), digest())),
        ("HEAD", "/v2/a/blobs/" + digestText, .headBlob(name("a"), digest())),
        ("DELETE", "/v2/a/blobs/" + digestText, .deleteBlob(name("a"), digest())),
        ("POST", "/v2/a/blobs/uploads/", .startUpload(name("a"), .session)),
        ("POST", "/v2/a/blobs/uploads", .startUpload(name("a"), .session)),
        ("POST", "/v2/a/blobs/uploads/?digest=" + digestText, .startUpload(name("a"), .monolithic(digest()))),
        ("POST", "/v2/a/blobs/uploads/?mount=\(digestText)&from=b/c", .startUpload(name("a"), .mount(digest(), from: name("b/c")))),
        ("POST", "/v2/a/blobs/uploads/?mount=" + digestText, .startUpload(name("a"), .mount(digest(), from: nil))),
        // A mount with an invalid digest or source falls back to a session, as the spec says.
        ("POST", "/v2/a/blobs/uploads/?mount=\(digestText)&from=BAD", .startUpload(name("a"), .session)),
        ("POST", "/v2/a/blobs/uploads/?mount=nope&from=b/c", .startUpload(name("a"), .session)),
        ("POST", "/v2/a/blobs/uploads/?mount=nope", .startUpload(name("a"), .session)),
        ("POST", "/v2/a/blobs/uploads/?mount=nope&digest=" + digestText, .startUpload(name("a"), .monolithic(digest()))),
        ("GET", "/v2/a/blobs/uploads/" + uploadID, .getUpload(name("a"), upload())),
        ("PATCH", "/v2/a/blobs/uploads/" + uploadID, .patchUpload(name("a"), upload())),
        ("PUT", "/v2/a/blobs/uploads/\(uploadID)?digest=sha256%3A\(hex)", .finishUpload(name("a"), upload(), digest())),
        ("DELETE", "/v2/a/blobs/uploads/" + uploadID, .cancelUpload(name("a"), upload())),
        ("GET", "/v2/a/manifests/latest", .getManifest(name("a"), .tag(tag("latest")))),
        ("HEAD", "/v2/a/manifests/" + digestText, .headManifest(name("a"), .digest(digest()))),
        ("PUT", "/v2/a/manifests/v1.0", .putManifest(name("a"), .tag(tag("v1.0")), tags: [])),
        (
            "PUT", "/v2/a/manifests/\(digestText)?tag=v1&tag=latest",
            .putManifest(name("a"), .digest(digest()), tags: [tag("v1"), tag("latest")])
        ),
        ("PUT", "/v2/a/manifests/\(digestText)?tag=v1&tag=v1", .putManifest(name("a"), .digest(digest()), tags: [tag("v1")])),
        // The spec defines `tag` only for a PUT by digest; elsewhere it is ignored.
        ("PUT", "/v2/a/manifests/v1?tag=latest", .putManifest(name("a"), .tag(tag("v1")), tags: [])),
        ("PUT", "/v2/a/manifests/v1?tag=..", .putManifest(name("a"), .tag(tag("v1")), tags: [])),
        ("DELETE", "/v2/a/manifests/" + digestText, .deleteManifest(name("a"), .digest(digest()))),
        ("GET", "/v2/a/referrers/" + digestText, .listReferrers(name("a"), digest(), artifactType: nil)),
        (
            "GET", "/v2/a/referrers/\(digestText)?artifactType=application%2Fvnd.example%2Bjson",
            .listReferrers(name("a"), digest(), artifactType: "application/vnd.example+json")
        ),
        // Endpoint words are fine as name components.
        ("GET", "/v2/manifests/manifests/latest", .getManifest(name("manifests"), .tag(tag("latest")))),
        ("GET", "/v2/x/blobs/blobs/" + digestText, .getBlob(name("x/blobs"), digest())),
        ("GET", "/v2/tags/tags/list", .listTags(name("tags"), PageRequest())),
        // The last segment is percent-decoded, as Go's router would.
        ("GET", "/v2/a/blobs/sha256%3A" + hex, .getBlob(name("a"), digest())),
        ("GET", "/v2/a/manifests/v1%2E0", .getManifest(name("a"), .tag(tag("v1.0")))),
    ]

    @Test(arguments: routes)
    func requestsParseToTheirRoute(_ method: String, _ target: String, _ route: Route) throws {
        #expect(try Route.parse(method: method, target: target) == route)
    }

    static let notFound: [String] = [
        "/", "/v1/", "/v2x", "/v2/a", "/v2/a/", "/v2/a/blobs", "/v2/a/manifests", "/v2/a//manifests/latest", "/v2//a/tags/list",
        "/v2/a/tags/list/", "/v2/a/blobs/uploads/\(uploadID)/", "/v2/a/manifests/latest/", "/v2/a/unknown/x",
    ]

    @Test(arguments: notFound)
    func pathsNamingNoEndpointAreNotFound(_ target: String) {
        #expect(throws: RouteError.notFound) { try Route.parse(method: "GET", target: target) }
    }

    @Test(arguments: [
        ("PUT", "/v2/", ["GET", "HEAD"]),
        ("POST", "/v2/_catalog", ["GET"]),
        ("PUT", "/v2/a/tags/list", ["GET"]),
        ("POST", "/v2/a/blobs/" + digestText, ["GET", "HEAD", "DELETE"]),
        ("GET", "/v2/a/blobs/uploads/", ["POST"]),
        ("POST", "/v2/a/blobs/uploads/" + uploadID, ["GET", "PATCH", "PUT", "DELETE"]),
        ("PATCH", "/v2/a/manifests/latest", ["GET", "HEAD", "PUT", "DELETE"]),
        ("DELETE", "/v2/a/referrers/" + digestText, ["GET"]),
        ("BREW", "/v2/a/manifests/latest", ["GET", "HEAD", "PUT", "DELETE"]),
    ])
    func wrongMethodsAreNotAllowedAndSayWhatIs(_ method: String, _ target: String, _ allowed: [String]) {
        #expect(throws: RouteError.methodNotAllowed(allowed: allowed)) { try Route.parse(method: method, target: target) }
        #expect(RouteError.methodNotAllowed(allowed: allowed).status == 405)
    }

    static let invalid: [(String, String, ErrorCode, Int)] = [
        ("GET", "/v2/UPPER/tags/list", .nameInvalid, 404),
        ("GET", "/v2/a/../b/tags/list", .nameInvalid, 404),
        ("GET", "/v2/a/./b/manifests/latest", .nameInvalid, 404),
        ("GET", "/v2/a%2Fb/tags/list", .nameInvalid, 404),
        ("GET", "/v2/" + String(repeating: "a", count: 256) + "/tags/list", .nameInvalid, 404),
        ("GET", "/v2/a/blobs/sha256:abc", .digestInvalid, 400),
        ("GET", "/v2/a/blobs/md5:abc", .unsupported, 400),
        ("GET", "/v2/a/blobs/sha256+b64u:abc", .unsupported, 400),
        ("GET", "/v2/a/manifests/a%2Fb", .manifestUnknown, 404),
        ("GET", "/v2/a/manifests/%zz", .manifestUnknown, 404),
        ("GET", "/v2/a/manifests/.bad", .manifestUnknown, 404),
        ("PUT", "/v2/a/manifests/.bad", .manifestInvalid, 400),
        ("GET", "/v2/a/manifests/sha256:zz", .digestInvalid, 400),
        ("GET", "/v2/a/blobs/uploads/not-a-uuid", .blobUploadUnknown, 404),
        ("PUT", "/v2/a/blobs/uploads/" + uploadID, .digestInvalid, 400),
        ("PUT", "/v2/a/blobs/uploads/\(uploadID)?digest=nope", .digestInvalid, 400),
        ("POST", "/v2/a/blobs/uploads/?digest=nope", .digestInvalid, 400),
        ("GET", "/v2/a/tags/list?n=-1", .paginationNumberInvalid, 400),
        ("GET", "/v2/_catalog?n=ten", .paginationNumberInvalid, 400),
        ("PUT", "/v2/a/manifests/\(digestText)?tag=v1&tag=.bad", .tagInvalid, 400),
        ("PUT", "/v2/a/manifests/\(digestText)?tag=", .tagInvalid, 400),
        ("PUT", "/v2/a/manifests/\(digestText)?tag=a%2Fb", .tagInvalid, 400),
        ("PUT", "/v2/a/manifests/\(digestText)?" + (0...100).map { "tag=t\($0)" }.joined(separator: "&"), .tagInvalid, 414),
    ]

    @Test(arguments: invalid)
    func invalidPartsAreReportedWithTheirCode(_ method: String, _ target: String, _ code: ErrorCode, _ status: Int) {
        do {
            let route = try Route.parse(method: method, target: target)
            Issue.record("parsed as \(route)")
        } catch {
            #expect(error.registryError?.code == code)
            #expect(error.status == status)
        }
    }
}
