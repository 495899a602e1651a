import Hummingbird
import HummingbirdTesting
import Testing

/// The OCI distribution-spec v1.1 conformance cases, re-expressed against
/// the HTTP layer in process (the Go suite cannot be built here). Each
/// workflow of the Go suite, its cases and where they live:
///
/// Pull (PullTests)
/// - HEAD/GET nonexistent blob → 404 `BLOB_UNKNOWN`: `missingBlobsAndManifestsAre404WithTheirCodes`
/// - HEAD/GET existing blob → 200, length, digest: `aPushedImagePullsBackByTagAndByDigest`
/// - HEAD/GET nonexistent manifest → 404 `MANIFEST_UNKNOWN`: `missingBlobsAndManifestsAre404WithTheirCodes`
/// - HEAD/GET manifest by tag and by digest → 200, type, digest: `aPushedImagePullsBackByTagAndByDigest`
/// - `GET /v2/` → 200 with `Docker-Distribution-API-Version`: `theBaseEndpointAnswersWithTheAPIVersion`
/// - ranged blob GET → 206 / 416 (RFC 9110): `rangeRequestsAnswer206AndUnsatisfiableOnes416`
/// - a blob larger than a read chunk streams whole, over a socket: `aLargeBlobStreamsWholeOverARealConnection`
///
/// Push (PushTests)
/// - POST with `?digest=` and the blob → 201: `aMonolithicPostCreatesTheBlob`
/// - POST → 202 with a session `Location`; PUT with the body → 201: `aSessionThenAPutWithTheWholeBlob`
/// - streamed PATCH without `Content-Range` → 202, then PUT → 201: `aStreamedPatchThenAnEmptyPut`
/// - chunked PATCHes in order → 202 each with `Range`; GET → 204: `chunkedPatchesInOrderThenAPutWithTheLastChunk`
/// - out-of-order chunk → 416 with the current `Range`: `anOutOfOrderChunkIs416WithTheCurrentRange`
/// - GET nonexistent upload → 404 `BLOB_UPLOAD_UNKNOWN`; DELETE cancels: `cancellingAnUploadForgetsIt`
/// - PUT with a digest the bytes do not have → 400 `DIGEST_INVALID`: `aLyingDigestIsRefusedAndTheSessionIsGone`
/// - cross-repository mount → 201; unknown source → 202 session: `aMountLinksTheBlobOrFallsBackToASession`
/// - automatic mount (no `from`) on and off: `aMountWithoutFromLinksAnyStoredBlobWhenAutomaticMountIsOn`
/// - a retried final PUT of a committed blob → 201 again: `aRetriedFinalPutOfACommittedBlobIs201`
/// - manifest PUT → 201 with `Location`; by digest; no layers: `manifestsArePushedByTagAndByDigest`
/// - PUT by digest with `?tag=` (end-7b, spec after v1.1.1) → 201, one `OCI-Tag` per tag, every tag
///   pulls: `aPutByDigestWithTagsPointsEveryTagAtTheManifest`; any invalid tag → 400 `TAG_INVALID`,
///   nothing stored: `anInvalidTagInTheQueryStoresNothing`; past 100 tags → 414: `tooManyTagsIs414`
///
/// Content discovery (DiscoveryTests)
/// - tags list, `n` limits and `last` starts, `Link` to the next page: `tagsArePagedWithLinksToTheNextPage`
/// - catalog paged the same way: `theCatalogIsPagedLikeTags`
/// - tags of a repository that does not exist → 404 `NAME_UNKNOWN`: `tagsOfAnUnknownRepositoryAre404`
/// - referrers: empty index for nothing, list, `artifactType` filter with
///   `OCI-Filters-Applied`, `OCI-Subject` on the PUT: `referrersListAndFilterManifestsWithASubject`
///
/// Content management (ManagementTests)
/// - DELETE a tag → 202, the manifest stays: `deletingATagLeavesTheManifest`
/// - DELETE a manifest by digest → 202, then GET → 404, tags gone: `deletingAManifestRemovesItAndItsTags`
/// - DELETE a blob → 202, then GET → 404: `deletingABlobUnlinksIt`
///
/// Errors (ErrorTests): JSON bodies with the spec's codes and statuses
/// - invalid names → 404 `NAME_INVALID`; `/v2/a//x` refused, not rewritten: `badNamesAreRefusedNotRewritten`
/// - invalid digests → 400 `DIGEST_INVALID`; unsupported algorithm: `badDigestsAreRefused`
/// - a method a path does not take → 405 with `Allow`: `aMethodAPathDoesNotTakeIs405`
/// - a manifest over 4 MiB → 413: `anOversizedManifestIs413`
/// - a body that is not a JSON manifest → 400 `MANIFEST_INVALID`: `aNonJSONManifestIsManifestInvalid`
/// - a manifest naming a missing blob → 400 `MANIFEST_BLOB_UNKNOWN`: `aManifestNamingAMissingBlobIsRefused`
/// - `Content-Length` not matching `Content-Range` → 400 `SIZE_INVALID`: `aChunkLongerThanItsRangeIsSizeInvalid`
/// - damage in storage is an operating failure → 500, never a 4xx: `aDamagedLinkIsA500`
@Suite struct PullTests {
    @Test func theBaseEndpointAnswersWithTheAPIVersion() async throws {
        try await TestRegistry().test { client in
            let response = try await client.request(.get, "/v2/")
            #expect(response.status == .ok)
            #expect(response.headers[.apiVersion] == "registry/2.0")
        }
    }

    @Test func aPushedImagePullsBackByTagAndByDigest() async throws {
        try await TestRegistry().test { client in
            let layer = pattern(5000)
            let (digest, manifest) = try await client.pushImage(to: "team/app", reference: "v1", layers: [layer])
            for reference in ["v1", digest] {
                let pulled = try await client.request(.get, "/v2/team/app/manifests/\(reference)")
                #expect(pulled.status == .ok)
                #expect(pulled.bytes == manifest)
                #expect(pulled.headers[.contentType] == Manifests.ociManifest)
                #expect(pulled.headers[.contentDigest] == digest)
                let head = try await client.request(.head, "/v2/team/app/manifests/\(reference)")
                #expect(head.status == .ok)
                #expect(head.headers[.contentLength] == String(manifest.count))
                #expect(head.body.readableBytes == 0)
            }
            let blob = try await client.request(.get, "/v2/team/app/blobs/\(sha256(layer))")
            #expect(blob.status == .ok)
            #expect(blob.bytes == layer)
            #expect(blob.headers[.contentDigest] == sha256(layer))
            let head = try await client.request(.head, "/v2/team/app/blobs/\(sha256(layer))")
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == "5000")
            #expect(head.body.readableBytes == 0)
        }
    }

    @Test func missingBlobsAndManifestsAre404WithTheirCodes() async throws {
        try await TestRegistry().test { client in
            let absent = sha256([1, 2, 3])
            let blob = try await client.request(.get, "/v2/team/app/blobs/\(absent)")
            #expect(blob.status == .notFound)
            #expect(blob.errorCode == "BLOB_UNKNOWN")
            #expect(blob.headers[.contentType] == "application/json")
            #expect(try await client.request(.head, "/v2/team/app/blobs/\(absent)").status == .notFound)
            for reference in ["latest", absent] {
                let manifest = try await client.request(.get, "/v2/team/app/manifests/\(reference)")
                #expect(manifest.status == .notFound)
                #expect(manifest.errorCode == "MANIFEST_UNKNOWN")
                #expect(try await client.request(.head, "/v2/team/app/manifests/\(reference)").status == .notFound)
            }
        }
    }

    @Test func rangeRequestsAnswer206AndUnsatisfiableOnes416() async throws {
        try await TestRegistry().test { client in
            let blob = pattern(1000)
            let digest = try await client.pushBlob(blob, to: "team/app")
            let path = "/v2/team/app/blobs/\(digest)"
            let middle = try await client.request(.get, path, headers: [.range: "bytes=100-199"])
            #expect(middle.status == .partialContent)
            #expect(middle.headers[.contentRange] == "bytes 100-199/1000")
            #expect(middle.bytes == Array(blob[100..<200]))
            let suffix = try await client.request(.get, path, headers: [.range: "bytes=-10"])
            #expect(suffix.status == .partialContent)
            #expect(suffix.bytes == Array(blob.suffix(10)))
            let open = try await client.request(.get, path, headers: [.range: "bytes=990-"])
            #expect(open.headers[.contentRange] == "bytes 990-999/1000")
            let beyond = try await client.request(.get, path, headers: [.range: "bytes=1000-1005"])
            #expect(beyond.status == .rangeNotSatisfiable)
            #expect(beyond.headers[.contentRange] == "bytes */1000")
            let ignored = try await client.request(.get, path, headers: [.range: "pages=1-2"])
            #expect(ignored.status == .ok)
            #expect(ignored.bytes == blob)
        }
    }

    @Test func aLargeBlobStreamsWholeOverARealConnection() async throws {
        // Three and a half read chunks, pushed and pulled over a socket.
        let blob = pattern(3 * (1 << 20) + 512 * 1024, seed: 7)
        try await TestRegistry().test(.live) { client in
            let digest = try await client.pushBlob(blob, to: "big/one")
            let pulled = try await client.request(.get, "/v2/big/one/blobs/\(digest)")
            #expect(pulled.status == .ok)
            #expect(pulled.bytes.count == blob.count)
            #expect(pulled.bytes == blob)
            let head = try await client.request(.head, "/v2/big/one/blobs/\(digest)")
            #expect(head.headers[.contentLength] == String(blob.count))
            let tail = try await client.request(.get, "/v2/big/one/blobs/\(digest)", headers: [.range: "bytes=3000000-"])
            #expect(tail.status == .partialContent)
            #expect(tail.bytes == Array(blob[3_000_000...]))
        }
    }
}
