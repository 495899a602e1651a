import Hummingbird
import RegistryCore
import RegistryStorage

/// Tags, catalog and referrers: JSON listings, the first two paged.
extension RegistryResponder {
    func tags(_ name: RepositoryName, _ page: PageRequest) async throws -> Response {
        let repository = store.repository(name)
        let all = try await pool.run { () throws(StorageError) in try repository.tags() }
        let (entries, hasMore) = page.page(of: all)
        return Self.paged(
            RegistryCore.ResponseBody.tagList(name: name, tags: entries), page, path: "/v2/\(name)/tags/list", entries: entries,
            hasMore: hasMore)
    }

    func catalog(_ page: PageRequest) async throws -> Response {
        let store = store
        let all = try await pool.run { () throws(StorageError) in try store.repositories() }
        let (entries, hasMore) = page.page(of: all)
        return Self.paged(RegistryCore.ResponseBody.catalog(entries), page, path: "/v2/_catalog", entries: entries, hasMore: hasMore)
    }

    /// Always 200 with an image index, empty when nothing refers to the
    /// subject; `OCI-Filters-Applied` says when `artifactType` was applied.
    func referrers(_ name: RepositoryName, _ subject: Digest, _ artifactType: String?) async throws -> Response {
        let repository = store.repository(name)
        let descriptors = try await pool.run { () throws(StorageError) in
            try repository.referrers(of: subject, artifactType: artifactType)
        }
        var headers = HTTPFields()
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        return Response.json(
            RegistryCore.ResponseBody.referrersIndex(descriptors), contentType: ManifestMediaType.ociIndex.rawValue, headers: headers)
    }

    private static func paged(_ json: String, _ page: PageRequest, path: String, entries: [String], hasMore: Bool) -> Response {
        var headers = HTTPFields()
        if let link = page.nextLink(path: path, entries: entries, hasMore: hasMore) { headers[.link] = link }
        return Response.json(json, headers: headers)
    }
}
