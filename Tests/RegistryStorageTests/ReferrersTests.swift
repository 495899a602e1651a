import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct ReferrersTests {
    @Test func referrersAreListedWithTheirDescriptorsAndFiltered() throws {
        let image = try ManifestStoreTests.Image()
        let subject = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let size = subject.bytes.count
        let signature = Fixture.imageManifest(
            config: image.config, layers: [], subject: (subject.digest, size), artifactType: "application/vnd.example.sig",
            annotations: ["org.opencontainers.image.created": "2024-01-01T00:00:00Z"])
        let sbom = Fixture.imageManifest(config: image.config, layers: [image.layer], subject: (subject.digest, size))
        let signed = try image.repository.putManifest(signature, contentType: nil, reference: .digest(Fixture.sha256(signature)))
        let described = try image.repository.putManifest(sbom, contentType: nil, reference: .digest(Fixture.sha256(sbom)))

        let all = try image.repository.referrers(of: subject.digest)
        #expect(Set(all.map(\.digest)) == [signed.digest, described.digest])
        let signatureDescriptor = try #require(all.first { $0.digest == signed.digest })
        #expect(signatureDescriptor.mediaType == ManifestMediaType.ociManifest.rawValue)
        #expect(signatureDescriptor.size == Int64(signature.count))
        #expect(signatureDescriptor.artifactType == "application/vnd.example.sig")
        #expect(signatureDescriptor.annotations == ["org.opencontainers.image.created": "2024-01-01T00:00:00Z"])
        // Without artifactType, the config media type stands in.
        #expect(all.first { $0.digest == described.digest }?.artifactType == "application/vnd.oci.image.config.v1+json")

        #expect(
            try image.repository.referrers(of: subject.digest, artifactType: "application/vnd.example.sig").map(\.digest) == [signed.digest]
        )
        #expect(try image.repository.referrers(of: subject.digest, artifactType: "application/none").isEmpty)
        #expect(try image.repository.referrers(of: signed.digest).isEmpty)
    }

    @Test func referrersMayArriveBeforeTheirSubjectAndLeaveWhenDeleted() throws {
        let image = try ManifestStoreTests.Image()
        let absentSubject = Fixture.sha256(Array("not yet pushed".utf8))
        let referrer = Fixture.imageManifest(config: image.config, layers: [], subject: (absentSubject, 10), artifactType: "a/b")
        let stored = try image.repository.putManifest(referrer, contentType: nil, reference: .digest(Fixture.sha256(referrer)))
        let hex = absentSubject.encoded
        let link = "docker/registry/v2/repositories/library/app/_referrers/sha256/\(hex)/sha256/\(stored.digest.encoded)/link"
        #expect(try image.directory.contents(link) == stored.digest.description)
        #expect(try image.repository.referrers(of: absentSubject).map(\.digest) == [stored.digest])
        try image.repository.deleteManifest(stored.digest)
        #expect(try image.repository.referrers(of: absentSubject).isEmpty)
        #expect(try image.directory.contents(link) == nil)
    }

    @Test func aReferrerWhoseRevisionIsGoneIsSkipped() throws {
        let image = try ManifestStoreTests.Image()
        let subject = Fixture.sha256(Array("s".utf8))
        let referrer = Fixture.imageManifest(config: image.config, layers: [], subject: (subject, 1))
        let stored = try image.repository.putManifest(referrer, contentType: nil, reference: .digest(Fixture.sha256(referrer)))
        // What distribution's garbage collector does: it removes the revision
        // link and knows nothing of our index.
        try LinkFile.remove(image.store.layout.revisionLink(image.name, stored.digest), image.store.layout.durability)
        #expect(try image.repository.referrers(of: subject).isEmpty)
    }
}
