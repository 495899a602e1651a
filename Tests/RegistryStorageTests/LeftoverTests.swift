import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct LeftoverTests {
    @Test func crashLeftoversAreRemovedAndNothingElse() throws {
        let image = try ManifestStoreTests.Image()
        let stored = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let before = try image.directory.allPaths()
        let layout = image.store.layout
        let leftovers = [
            LinkFile.parent(of: layout.tagCurrentLink(image.name, try Fixture.tag("v1"))) + "/.tmp-1f",
            layout.blobDirectory(stored.digest) + "/.tmp-data-2e",
        ]
        for path in leftovers { _ = try DurableFile(path: path, flags: O_WRONLY | O_CREAT) }
        try Directory.create(layout.manifests(image.name) + "/.deleted-tag-3d/current", below: layout.base)
        #expect(try image.store.removeLeftovers() == 3)
        #expect(try image.directory.allPaths() == before)
        #expect(try image.repository.manifest(.tag(Fixture.tag("v1"))).digest == stored.digest)
    }
}
