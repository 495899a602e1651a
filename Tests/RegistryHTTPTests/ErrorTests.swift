import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// What clients get wrong, and one thing storage gets wrong. The case list
/// is in `PullTests.swift`.
@Suite struct ErrorTests {
    @Test func badNamesAreRefusedNotRewritten() async throws {
        try await TestRegistry().test { client in
            try await client.pushImage(to: "a/x", reference: "v1", layers: [])
            // Hummingbird's router would serve this as `a/x`.
            let doubled = try await client.request(.get, "/v2/a//x/tags/list")
            #expect(doubled.status == .notFound)
            #expect(doubled.errorCode == nil)
            for path in ["/v2/Upper/tags/list", "/v2/a/-x/manifests/v1", "/v2/\(String(repeating: "a", count: 256))/tags/list"] {
                let response = try await client.request(.get, path)
                #expect(response.status == .notFound, "\(path)")
                #expect(response.errorCode == "NAME_INVALID", "\(path)")
            }
            let unknownRoute = try await client.request(.get, "/v3/")
            #expect(unknownRoute.status == .notFound)
        }
    }

    @Test func badDigestsAreRefused() async throws {
        try await TestRegistry().test { client in
            let malformed = try await client.request(.get, "/v2/team/app/blobs/sha256:xyz")
            #expect(malformed.status == .badRequest)
            #expect(malformed.errorCode == "DIGEST_INVALID")
            let unsupported = try await client.request(.post, "/v2/team/app/blobs/uploads/?digest=md5:d41d8cd98f00b204e9800998ecf8427e")
            #expect(unsupported.status == .badRequest)
            #expect(unsupported.errorCode == "UNSUPPORTED")
            let missing = try await client.request(.post, "/v2/team/app/blobs/uploads/")
            let location = try #require(missing.headers[.location])
            let noDigest = try await client.request(.put, location)
            #expect(noDigest.status == .badRequest)
            #expect(noDigest.errorCode == "DIGEST_INVALID")
        }
    }

    @Test func aMethodAPathDoesNotTakeIs405() async throws {
        try await TestRegistry().test { client in
            let response = try await client.request(.post, "/v2/team/app/tags/list")
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "GET")
            #expect(response.errorCode == "UNSUPPORTED")
        }
    }

    @Test func anOversizedManifestIs413() async throws {
        try await TestRegistry().test { client in
            let huge = Array(repeating: UInt8(ascii: " "), count: 4 * 1024 * 1024 + 1)
            let response = try await client.request(
                .put, "/v2/team/app/manifests/v1", headers: [.contentType: Manifests.ociManifest], body: huge)
            #expect(response.status == .contentTooLarge)
            #expect(response.headers[.contentType] == "application/json")
        }
    }

    @Test func aNonJSONManifestIsManifestInvalid() async throws {
        try await TestRegistry().test { client in
            let response = try await client.request(
                .put, "/v2/team/app/manifests/v1", headers: [.contentType: Manifests.ociManifest], body: Array("not json".utf8))
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "MANIFEST_INVALID")
            #expect(response.text.hasPrefix(#"{"errors":[{"code":"MANIFEST_INVALID""#))
        }
    }

    @Test func aManifestNamingAMissingBlobIsRefused() async throws {
        try await TestRegistry().test { client in
            let config = try await client.pushBlob(Array("{}".utf8), to: "team/app")
            let manifest = Manifests.image(config: config, configSize: 2, layers: [(sha256([4, 2]), 2)])
            let response = try await client.request(
                .put, "/v2/team/app/manifests/v1", headers: [.contentType: Manifests.ociManifest], body: manifest)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "MANIFEST_BLOB_UNKNOWN")
            let lying = try await client.request(
                .put, "/v2/team/app/manifests/\(sha256([1]))", headers: [.contentType: Manifests.ociManifest],
                body: Manifests.image(config: config, configSize: 2, layers: []))
            #expect(lying.status == .badRequest)
            #expect(lying.errorCode == "DIGEST_INVALID")
        }
    }

    @Test func aChunkLongerThanItsRangeIsSizeInvalid() async throws {
        try await TestRegistry().test { client in
            let session = try await client.request(.post, "/v2/team/app/blobs/uploads/")
            let location = try #require(session.headers[.location])
            let response = try await client.request(
                .patch, location, headers: [.contentRange: "0-9", .contentLength: "20"], body: pattern(20))
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "SIZE_INVALID")
        }
    }

    @Test func aDamagedLinkIsA500() async throws {
        let capture = LogCapture()
        let registry = try TestRegistry(logger: capture.logger)
        try await registry.test { client in
            let digest = try await client.pushBlob(pattern(8), to: "team/app")
            // A link that names another blob is damage from outside, not the client's doing.
            let hex = digest.dropFirst("sha256:".count)
            let link = registry.path + "/docker/registry/v2/repositories/team/app/_layers/sha256/\(hex)/link"
            let other = sha256([0])
            try Data(other.utf8).write(to: URL(fileURLWithPath: link))
            let response = try await client.request(.get, "/v2/team/app/blobs/\(digest)")
            #expect(response.status == .internalServerError)
        }
        // The cause is logged once, at error, for the operator.
        let errors = capture.messages.filter { $0.level == .error }.map(\.message)
        #expect(errors.count == 1 && errors[0].contains("damaged link file"), "\(errors)")
    }
}
