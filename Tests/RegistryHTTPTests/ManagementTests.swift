import Hummingbird
import HummingbirdTesting
import Testing

/// Deletes. The case list is in `PullTests.swift`.
@Suite struct ManagementTests {
    @Test func deletingATagLeavesTheManifest() async throws {
        try await TestRegistry().test { client in
            let (digest, _) = try await client.pushImage(to: "team/app", reference: "v1", layers: [pattern(5)])
            #expect(try await client.request(.delete, "/v2/team/app/manifests/v1").status == .accepted)
            #expect(try await client.request(.get, "/v2/team/app/manifests/v1").status == .notFound)
            #expect(try await client.request(.get, "/v2/team/app/manifests/\(digest)").status == .ok)
            #expect(try await client.request(.delete, "/v2/team/app/manifests/v1").status == .notFound)
        }
    }

    @Test func deletingAManifestRemovesItAndItsTags() async throws {
        try await TestRegistry().test { client in
            let (digest, manifest) = try await client.pushImage(to: "team/app", reference: "v1", layers: [pattern(5)])
            let retag = try await client.request(
                .put, "/v2/team/app/manifests/stable", headers: [.contentType: Manifests.ociManifest], body: manifest)
            #expect(retag.status == .created)
            #expect(try await client.request(.delete, "/v2/team/app/manifests/\(digest)").status == .accepted)
            for reference in [digest, "v1", "stable"] {
                let gone = try await client.request(.get, "/v2/team/app/manifests/\(reference)")
                #expect(gone.status == .notFound)
                #expect(gone.errorCode == "MANIFEST_UNKNOWN")
            }
            #expect(try await client.request(.get, "/v2/team/app/tags/list").text == #"{"name":"team/app","tags":[]}"#)
            #expect(try await client.request(.delete, "/v2/team/app/manifests/\(digest)").status == .notFound)
        }
    }

    @Test func deletingABlobUnlinksIt() async throws {
        try await TestRegistry().test { client in
            let digest = try await client.pushBlob(pattern(50), to: "team/app")
            let deleted = try await client.request(.delete, "/v2/team/app/blobs/\(digest)")
            #expect(deleted.status == .accepted)
            let gone = try await client.request(.get, "/v2/team/app/blobs/\(digest)")
            #expect(gone.status == .notFound)
            #expect(gone.errorCode == "BLOB_UNKNOWN")
            #expect(try await client.request(.delete, "/v2/team/app/blobs/\(digest)").status == .notFound)
        }
    }
}
