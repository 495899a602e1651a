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
        try Directory.create(layout.manifests(image.name) + "/.deleted-tag-3d/current", below: layout.base, layout.durability)
        #expect(try image.store.removeLeftovers() == 3)
        #expect(try image.directory.allPaths() == before)
        #expect(try image.repository.manifest(.tag(Fixture.tag("v1"))).digest == stored.digest)
    }
    /// A blob directory without `data` (a crash between `mkdir` and the
    /// rename into it) is a leftover: nothing serves it, and fsck, which
    /// calls it a partial blob, is clean once it is gone.
    @Test func aBlobDirectoryWithoutDataIsALeftover() throws {
        let image = try ManifestStoreTests.Image()
        let layout = image.store.layout
        let orphan = Fixture.sha256(Array("never renamed into place".utf8))
        try Directory.create(layout.blobDirectory(orphan), below: layout.base, layout.durability)
        _ = try DurableFile(path: layout.blobDirectory(orphan) + "/.tmp-data-4c", flags: O_WRONLY | O_CREAT)
        #expect(try Fsck().run(image.store).findings.contains(.partialBlob(path: layout.blobDirectory(orphan))))
        #expect(try image.store.removeLeftovers() == 2)
        #expect(!Directory.exists(layout.blobDirectory(orphan)))
        #expect(try Fsck().run(image.store).isClean)
    }
}
