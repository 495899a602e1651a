import Hummingbird
import HummingbirdTesting
import Testing

/// Push: monolithic, session, streamed, chunked, mounts, manifests.
/// The case list is in `PullTests.swift`.
@Suite struct PushTests {
    /// POST for a session; returns its `Location`.
    static func startSession(_ client: Client, _ name: String) async throws -> String {
        let response = try await client.request(.post, "/v2/\(name)/blobs/uploads/")
        #expect(response.status == .accepted)
        #expect(response.headers[.range] == "0-0")
        guard let location = response.headers[.location], let id = response.headers[.uploadUUID] else {
            throw TestFailure("a session without Location or Docker-Upload-UUID")
        }
        #expect(location == "/v2/\(name)/blobs/uploads/\(id)")
        return location
    }

    @Test func aMonolithicPostCreatesTheBlob() async throws {
        try await TestRegistry().test { client in
            let blob = pattern(70_000)
            let digest = sha256(blob)
            let response = try await client.request(.post, "/v2/team/app/blobs/uploads/?digest=\(digest)", body: blob)
            #expect(response.status == .created)
            #expect(response.headers[.location] == "/v2/team/app/blobs/\(digest)")
            #expect(response.headers[.contentDigest] == digest)
            #expect(try await client.request(.get, "/v2/team/app/blobs/\(digest)").bytes == blob)
        }
    }

    @Test func aSessionThenAPutWithTheWholeBlob() async throws {
        try await TestRegistry().test { client in
            let blob = pattern(1234)
            let location = try await Self.startSession(client, "team/app")
            let put = try await client.request(.put, location + "?digest=\(sha256(blob))", body: blob)
            #expect(put.status == .created)
            #expect(put.headers[.location] == "/v2/team/app/blobs/\(sha256(blob))")
            #expect(try await client.request(.head, "/v2/team/app/blobs/\(sha256(blob))").status == .ok)
        }
    }

    @Test func aStreamedPatchThenAnEmptyPut() async throws {
        try await TestRegistry().test { client in
            // Several of the test framework's 32 KiB body chunks.
            let blob = pattern(100 * 1024 + 17)
            let location = try await Self.startSession(client, "team/app")
            let patch = try await client.request(.patch, location, body: blob)
            #expect(patch.status == .accepted)
            #expect(patch.headers[.range] == "0-\(blob.count - 1)")
            #expect(patch.headers[.location] == location)
            let put = try await client.request(.put, location + "?digest=\(sha256(blob))")
            #expect(put.status == .created)
            #expect(try await client.request(.get, "/v2/team/app/blobs/\(sha256(blob))").bytes == blob)
        }
    }

    @Test func chunkedPatchesInOrderThenAPutWithTheLastChunk() async throws {
        try await TestRegistry().test { client in
            let blob = pattern(300)
            let location = try await Self.startSession(client, "team/app")
            for (start, end) in [(0, 99), (100, 199)] {
                let chunk = Array(blob[start...end])
                let patch = try await client.request(
                    .patch, location, headers: [.contentRange: "\(start)-\(end)", .contentLength: "\(chunk.count)"], body: chunk)
                #expect(patch.status == .accepted)
                #expect(patch.headers[.range] == "0-\(end)")
                let status = try await client.request(.get, location)
                #expect(status.status == .noContent)
                #expect(status.headers[.range] == "0-\(end)")
            }
            let last = Array(blob[200...])
            let put = try await client.request(
                .put, location + "?digest=\(sha256(blob))", headers: [.contentRange: "200-299", .contentLength: "100"], body: last)
            #expect(put.status == .created)
            #expect(try await client.request(.get, "/v2/team/app/blobs/\(sha256(blob))").bytes == blob)
        }
    }

    @Test func anOutOfOrderChunkIs416WithTheCurrentRange() async throws {
        try await TestRegistry().test { client in
            let blob = pattern(200)
            let location = try await Self.startSession(client, "team/app")
            let first = try await client.request(
                .patch, location, headers: [.contentRange: "0-99", .contentLength: "100"], body: Array(blob[..<100]))
            #expect(first.status == .accepted)
            for range in ["150-199", "0-99"] {
                let skipped = try await client.request(
                    .patch, location, headers: [.contentRange: range, .contentLength: "50"], body: Array(blob[150...]))
                #expect(skipped.status == .rangeNotSatisfiable)
                #expect(skipped.headers[.range] == "0-99")
                #expect(skipped.headers[.location] == location)
            }
            let status = try await client.request(.get, location)
            #expect(status.headers[.range] == "0-99")
        }
    }

    @Test func cancellingAnUploadForgetsIt() async throws {
        try await TestRegistry().test { client in
            let unknown = try await client.request(.get, "/v2/team/app/blobs/uploads/0b0e4c43-4b0b-4c46-9d3f-3c1c7fbd2c11")
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "BLOB_UPLOAD_UNKNOWN")
            let location = try await Self.startSession(client, "team/app")
            #expect(try await client.request(.patch, location, body: pattern(10)).status == .accepted)
            #expect(try await client.request(.delete, location).status == .noContent)
            let gone = try await client.request(.get, location)
            #expect(gone.status == .notFound)
            #expect(gone.errorCode == "BLOB_UPLOAD_UNKNOWN")
            #expect(try await client.request(.patch, location, body: pattern(10)).status == .notFound)
        }
    }

    @Test func aLyingDigestIsRefusedAndTheSessionIsGone() async throws {
        try await TestRegistry().test { client in
            let location = try await Self.startSession(client, "team/app")
            let lie = sha256([9, 9, 9])
            let put = try await client.request(.put, location + "?digest=\(lie)", body: pattern(64))
            #expect(put.status == .badRequest)
            #expect(put.errorCode == "DIGEST_INVALID")
            #expect(try await client.request(.get, location).status == .notFound)
            #expect(try await client.request(.head, "/v2/team/app/blobs/\(lie)").status == .notFound)
            let monolithic = try await client.request(.post, "/v2/team/app/blobs/uploads/?digest=\(lie)", body: pattern(64))
            #expect(monolithic.status == .badRequest)
            #expect(monolithic.errorCode == "DIGEST_INVALID")
        }
    }

    /// A client whose final PUT's answer was lost (a timeout, a failover)
    /// sends it again: the blob is committed, so it gets the same 201. A
    /// retry naming another digest still finds no session.
    @Test func aRetriedFinalPutOfACommittedBlobIs201() async throws {
        try await TestRegistry().test { client in
            let blob = pattern(4321)
            let location = try await Self.startSession(client, "team/app")
            #expect(try await client.request(.put, location + "?digest=\(sha256(blob))", body: blob).status == .created)
            let retried = try await client.request(.put, location + "?digest=\(sha256(blob))", body: blob)
            #expect(retried.status == .created)
            #expect(retried.headers[.location] == "/v2/team/app/blobs/\(sha256(blob))")
            let other = try await client.request(.put, location + "?digest=\(sha256(pattern(7)))", body: pattern(7))
            #expect(other.status == .notFound)
            #expect(String(decoding: other.bytes, as: UTF8.self).contains("BLOB_UPLOAD_UNKNOWN"))
            let elsewhere = try await client.request(
                .put, "/v2/team/other/blobs/uploads/\(location.split(separator: "/").last!)?digest=\(sha256(blob))", body: blob)
            #expect(elsewhere.status == .notFound, "another repository does not hold the blob: no 201 there")
        }
    }

    @Test func aMountLinksTheBlobOrFallsBackToASession() async throws {
        try await TestRegistry().test { client in
            let digest = try await client.pushBlob(pattern(500), to: "source/repo")
            let mounted = try await client.request(.post, "/v2/target/repo/blobs/uploads/?mount=\(digest)&from=source/repo")
            #expect(mounted.status == .created)
            #expect(mounted.headers[.location] == "/v2/target/repo/blobs/\(digest)")
            #expect(try await client.request(.get, "/v2/target/repo/blobs/\(digest)").bytes == pattern(500))
            // A source without the blob, an invalid digest or source (the
            // spec's fallback, as distribution does): a session.
            for query in ["mount=\(sha256([1]))&from=source/repo", "mount=\(digest)&from=BAD", "mount=nope&from=source/repo"] {
                let fallback = try await client.request(.post, "/v2/other/repo/blobs/uploads/?\(query)")
                #expect(fallback.status == .accepted)
                #expect(fallback.headers[.uploadUUID] != nil)
            }
            #expect(try await client.request(.head, "/v2/other/repo/blobs/\(digest)").status == .notFound)
        }
    }

    /// The spec's automatic mount: `?mount=` without `from` links a blob the
    /// registry holds in any repository (201), and starts a session for one
    /// it does not; with automatic mount off, always a session.
    @Test(arguments: [true, false])
    func aMountWithoutFromLinksAnyStoredBlobWhenAutomaticMountIsOn(automaticMount: Bool) async throws {
        try await TestRegistry(automaticMount: automaticMount).test { client in
            let digest = try await client.pushBlob(pattern(600), to: "source/repo")
            let mounted = try await client.request(.post, "/v2/target/repo/blobs/uploads/?mount=\(digest)")
            #expect(mounted.status == (automaticMount ? .created : .accepted))
            let linked = try await client.request(.head, "/v2/target/repo/blobs/\(digest)").status
            #expect(linked == (automaticMount ? .ok : .notFound))
            let unknown = try await client.request(.post, "/v2/target/repo/blobs/uploads/?mount=\(sha256([9]))")
            #expect(unknown.status == .accepted)
        }
    }

    @Test func manifestsArePushedByTagAndByDigest() async throws {
        try await TestRegistry().test { client in
            let (digest, manifest) = try await client.pushImage(to: "team/app", reference: "v1", layers: [pattern(10)])
            let byDigest = try await client.request(
                .put, "/v2/team/app/manifests/\(digest)", headers: [.contentType: Manifests.ociManifest], body: manifest)
            #expect(byDigest.status == .created)
            #expect(byDigest.headers[.location] == "/v2/team/app/manifests/\(digest)")
            #expect(byDigest.headers[.contentDigest] == digest)
            // No layers at all is a valid image manifest (an artifact).
            let empty = try await client.pushImage(to: "team/app", reference: "empty", layers: [])
            #expect(try await client.request(.get, "/v2/team/app/manifests/empty").bytes == empty.bytes)
        }
    }

    @Test func aPutByDigestWithTagsPointsEveryTagAtTheManifest() async throws {
        try await TestRegistry().test { client in
            let (digest, manifest) = try await client.pushImage(to: "team/app", reference: "first", layers: [pattern(10)])
            let put = try await client.request(
                .put, "/v2/team/app/manifests/\(digest)?tag=1.2.3&tag=1.2&tag=latest&tag=1.2",
                headers: [.contentType: Manifests.ociManifest], body: manifest)
            #expect(put.status == .created)
            #expect(put.headers[.contentDigest] == digest)
            #expect(put.headers[values: .ociTag] == ["1.2.3", "1.2", "latest"])
            for tag in ["1.2.3", "1.2", "latest"] {
                let pulled = try await client.request(.get, "/v2/team/app/manifests/\(tag)")
                #expect(pulled.status == .ok)
                #expect(pulled.headers[.contentDigest] == digest)
            }
            let tags = try await client.request(.get, "/v2/team/app/tags/list")
            #expect(tags.text == #"{"name":"team/app","tags":["1.2","1.2.3","first","latest"]}"#)
        }
    }

    @Test func anInvalidTagInTheQueryStoresNothing() async throws {
        try await TestRegistry().test { client in
            let (digest, manifest) = try await client.pushImage(to: "team/app", reference: "first", layers: [pattern(10)])
            let other = Manifests.image(config: sha256([1]), configSize: 1, layers: [], artifactType: "application/x-none")
            for query in ["tag=good&tag=.bad", "tag=", "tag=a%2Fb"] {
                let put = try await client.request(
                    .put, "/v2/team/app/manifests/\(digest)?\(query)", headers: [.contentType: Manifests.ociManifest], body: manifest)
                #expect(put.status == .badRequest)
                #expect(put.errorCode == "TAG_INVALID")
                #expect(put.headers[.ociTag] == nil)
            }
            // A manifest not yet stored stays absent when its tags are refused.
            let refused = try await client.request(
                .put, "/v2/team/app/manifests/\(sha256(other))?tag=ok&tag=-no", headers: [.contentType: Manifests.ociManifest],
                body: other)
            #expect(refused.errorCode == "TAG_INVALID")
            #expect(try await client.request(.head, "/v2/team/app/manifests/\(sha256(other))").status == .notFound)
            let tags = try await client.request(.get, "/v2/team/app/tags/list")
            #expect(tags.text == #"{"name":"team/app","tags":["first"]}"#)
        }
    }

    @Test func tooManyTagsIs414() async throws {
        try await TestRegistry().test { client in
            let (digest, manifest) = try await client.pushImage(to: "team/app", reference: "first", layers: [])
            let query = (0...100).map { "tag=t\($0)" }.joined(separator: "&")
            let put = try await client.request(
                .put, "/v2/team/app/manifests/\(digest)?\(query)", headers: [.contentType: Manifests.ociManifest], body: manifest)
            #expect(put.status == .uriTooLong)
            #expect(put.errorCode == "TAG_INVALID")
        }
    }
}
