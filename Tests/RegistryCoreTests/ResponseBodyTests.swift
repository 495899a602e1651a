import Testing

@testable import RegistryCore

@Suite struct ResponseBodyTests {
    @Test func tagListsNameTheRepository() throws {
        let body = ResponseBody.tagList(name: try RepositoryName(validating: "a/b"), tags: ["v1", "latest"])
        #expect(body == #"{"name":"a/b","tags":["v1","latest"]}"#)
        #expect(ResponseBody.tagList(name: try RepositoryName(validating: "a"), tags: []) == #"{"name":"a","tags":[]}"#)
    }

    @Test func catalogsListRepositories() {
        #expect(ResponseBody.catalog(["a", "b/c"]) == #"{"repositories":["a","b/c"]}"#)
        #expect(ResponseBody.catalog([]) == #"{"repositories":[]}"#)
    }

    @Test func referrersAreAnImageIndex() throws {
        let digest = try Digest(parsing: "sha256:" + String(repeating: "d", count: 64))
        let descriptor = Descriptor(mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest, size: 3, artifactType: "x/y")
        let expected =
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["# + descriptor.json + "]}"
        #expect(ResponseBody.referrersIndex([descriptor]) == expected)
        #expect(
            ResponseBody.referrersIndex([]) == #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#)
    }
}
