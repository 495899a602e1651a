import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct StampedCacheTests {
    /// Once a listing is kept, changes made behind the store's back (as
    /// docker-registry or its garbage collector make them) still show.
    @Test func keptListingsFollowChangesMadeByOthers() throws {
        let image = try ManifestStoreTests.Image()
        let layout = image.store.layout
        let subject = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let referrer = Fixture.imageManifest(config: image.config, layers: [], subject: (subject.digest, subject.bytes.count))
        let stored = try image.repository.putManifest(referrer, contentType: nil, reference: .digest(Fixture.sha256(referrer)))
        usleep(1_100_000)  // past `StampedCache.settled`: what is read now is kept

        #expect(try image.repository.tags() == ["v1"])
        #expect(try image.store.caches.tags.lookup([layout.tags(image.name)]) { [] }.wasKept)
        #expect(try image.repository.referrers(of: subject.digest).map(\.digest) == [stored.digest])

        // A tag written by another process, in distribution's layout.
        try LinkFile.write(
            subject.digest.description, to: layout.tagCurrentLink(image.name, Fixture.tag("v2")), below: layout.base, layout.durability)
        #expect(try image.repository.tags() == ["v1", "v2"])
        // distribution's garbage collector removes the referrer's revision
        // link and leaves our index as it is.
        try LinkFile.remove(layout.revisionLink(image.name, stored.digest), layout.durability)
        #expect(try image.repository.referrers(of: subject.digest).isEmpty)
    }
}
