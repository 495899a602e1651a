import Hummingbird
import HummingbirdTesting
import Testing

/// Tags, catalog and referrers. The case list is in `PullTests.swift`.
@Suite struct DiscoveryTests {
    /// Follows `Link` headers from `first` and returns every page's body.
    static func pages(_ client: Client, from first: String) async throws -> [String] {
        var bodies: [String] = []
        var next: String? = first
        while let uri = next {
            let response = try await client.request(.get, uri)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            bodies.append(response.text)
            next = response.headers[.link].flatMap { link in
                link.split(separator: ">").first.map { String($0.dropFirst()) }
            }
            guard bodies.count < 10 else { throw TestFailure("more pages than entries: \(bodies)") }
        }
        return bodies
    }

    @Test func tagsArePagedWithLinksToTheNextPage() async throws {
        try await TestRegistry().test { client in
            for tag in ["b", "a", "e", "c", "d"] {
                try await client.pushImage(to: "team/app", reference: tag, layers: [])
            }
            let first = try await client.request(.get, "/v2/team/app/tags/list?n=2")
            #expect(first.text == #"{"name":"team/app","tags":["a","b"]}"#)
            #expect(first.headers[.link] == #"</v2/team/app/tags/list?n=2&last=b>; rel="next""#)
            let pages = try await Self.pages(client, from: "/v2/team/app/tags/list?n=2")
            #expect(
                pages == [
                    #"{"name":"team/app","tags":["a","b"]}"#, #"{"name":"team/app","tags":["c","d"]}"#,
                    #"{"name":"team/app","tags":["e"]}"#,
                ])
            let after = try await client.request(.get, "/v2/team/app/tags/list?last=c")
            #expect(after.text == #"{"name":"team/app","tags":["d","e"]}"#)
            #expect(after.headers[.link] == nil)
            let all = try await client.request(.get, "/v2/team/app/tags/list")
            #expect(all.text == #"{"name":"team/app","tags":["a","b","c","d","e"]}"#)
            let bad = try await client.request(.get, "/v2/team/app/tags/list?n=-1")
            #expect(bad.status == .badRequest)
            #expect(bad.errorCode == "PAGINATION_NUMBER_INVALID")
        }
    }

    @Test func theCatalogIsPagedLikeTags() async throws {
        try await TestRegistry().test { client in
            for name in ["zeta", "alpha/one", "alpha", "mid/x/y"] {
                try await client.pushBlob(pattern(3), to: name)
            }
            let pages = try await Self.pages(client, from: "/v2/_catalog?n=3")
            #expect(pages == [#"{"repositories":["alpha","alpha/one","mid/x/y"]}"#, #"{"repositories":["zeta"]}"#])
        }
    }

    @Test func tagsOfAnUnknownRepositoryAre404() async throws {
        try await TestRegistry().test { client in
            let response = try await client.request(.get, "/v2/nobody/here/tags/list")
            #expect(response.status == .notFound)
            #expect(response.errorCode == "NAME_UNKNOWN")
        }
    }

    @Test func referrersListAndFilterManifestsWithASubject() async throws {
        try await TestRegistry().test { client in
            let (subject, _) = try await client.pushImage(to: "team/app", reference: "v1", layers: [pattern(20)])
            let index = "application/vnd.oci.image.index.v1+json"
            let none = try await client.request(.get, "/v2/team/app/referrers/\(subject)")
            #expect(none.status == .ok)
            #expect(none.headers[.contentType] == index)
            #expect(none.text == #"{"schemaVersion":2,"mediaType":"\#(index)","manifests":[]}"#)

            let config = try await client.pushBlob(Array("{}".utf8), to: "team/app")
            let signature = Manifests.image(
                config: config, configSize: 2, layers: [], subject: subject, artifactType: "application/vnd.example.signature")
            let put = try await client.request(
                .put, "/v2/team/app/manifests/\(sha256(signature))", headers: [.contentType: Manifests.ociManifest], body: signature)
            #expect(put.status == .created)
            #expect(put.headers[.ociSubject] == subject)

            let listed = try await client.request(.get, "/v2/team/app/referrers/\(subject)")
            #expect(listed.text.contains(sha256(signature)))
            #expect(listed.text.contains(#""artifactType":"application/vnd.example.signature""#))
            #expect(listed.headers[.filtersApplied] == nil)
            let filtered = try await client.request(
                .get, "/v2/team/app/referrers/\(subject)?artifactType=application/vnd.example.signature")
            #expect(filtered.text.contains(sha256(signature)))
            #expect(filtered.headers[.filtersApplied] == "artifactType")
            let other = try await client.request(.get, "/v2/team/app/referrers/\(subject)?artifactType=application/vnd.example.sbom")
            #expect(other.text == #"{"schemaVersion":2,"mediaType":"\#(index)","manifests":[]}"#)
            #expect(other.headers[.filtersApplied] == "artifactType")
        }
    }
}
