import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct CatalogTests {
    @Test func theCatalogListsNestedRepositoriesInByteOrderAndPages() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        for name in ["b-c", "a/b", "a", "c/d/e", "a-b"] {
            try Fixture.push(Array(name.utf8), to: Fixture.name(name), in: store)
        }
        // Uploads alone do not make a repository.
        _ = try store.uploads.start(Fixture.name("only/uploads"), now: 0)
        let all = try store.repositories()
        #expect(all == ["a", "a-b", "a/b", "b-c", "c/d/e"])
        let request = PageRequest(count: 2, last: "a-b")
        let page = request.page(of: all)
        #expect(page.entries == ["a/b", "b-c"])
        #expect(
            request.nextLink(path: "/v2/_catalog", entries: page.entries, hasMore: page.hasMore)
                == #"</v2/_catalog?n=2&last=b-c>; rel="next""#)
    }

    @Test func anEmptyRegistryHasAnEmptyCatalog() throws {
        let directory = TemporaryDirectory()
        #expect(try directory.store().repositories().isEmpty)
    }

    @Test func aRepositoryWithOnlyManifestsIsListed() throws {
        let image = try ManifestStoreTests.Image("x/y")
        try image.repository.unlinkLayer(image.layer)
        try image.repository.unlinkLayer(image.config)
        #expect(try image.store.repositories() == ["x/y"])
    }
}
