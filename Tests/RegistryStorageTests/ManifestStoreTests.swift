import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct ManifestStoreTests {
    /// A repository holding one config and one layer, ready for manifests.
    struct Image {
        let directory = TemporaryDirectory()
        let store: RegistryStore
        let name: RepositoryName
        let config: Digest
        let layer: Digest

        init(_ name: String = "library/app") throws {
            store = try directory.store()
            self.name = try Fixture.name(name)
            config = try Fixture.push(Array("{}".utf8), to: self.name, in: store)
            layer = try Fixture.push(Array("layer bytes".utf8), to: self.name, in: store)
        }

        var repository: Repository { store.repository(name) }
        var manifest: [UInt8] { Fixture.imageManifest(config: config, layers: [layer]) }
    }

    @Test func aTaggedManifestIsLinkedAsDistributionLinksIt() throws {
        let image = try Image()
        let stored = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let hex = stored.digest.encoded
        let base = "docker/registry/v2/repositories/library/app/_manifests"
        #expect(try image.directory.contents("\(base)/revisions/sha256/\(hex)/link") == stored.digest.description)
        #expect(try image.directory.contents("\(base)/tags/v1/current/link") == stored.digest.description)
        #expect(try image.directory.contents("\(base)/tags/v1/index/sha256/\(hex)/link") == stored.digest.description)
        #expect(
            try image.directory.contents("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
                == String(decoding: image.manifest, as: UTF8.self))
        #expect(stored.digest == Fixture.sha256(image.manifest))
    }

    @Test func manifestsReadBackByTagAndByDigest() throws {
        let image = try Image()
        let stored = try image.repository.putManifest(
            image.manifest, contentType: ManifestMediaType.ociManifest.rawValue, reference: .tag(Fixture.tag("v1")))
        for reference in [Reference.tag(try Fixture.tag("v1")), .digest(stored.digest)] {
            let read = try image.repository.manifest(reference)
            #expect(read.bytes == image.manifest)
            #expect(read.digest == stored.digest)
            #expect(read.mediaType == ManifestMediaType.ociManifest.rawValue)
        }
        // Manifests are not blobs of the repository, as in distribution.
        #expect(try image.repository.blobSize(stored.digest) == nil)
    }

    @Test func aPushByDigestMustMatchTheBytes() throws {
        let image = try Image()
        let wrong = Fixture.sha256(Array("other".utf8))
        #expect(throws: StorageError.digestMismatch(expected: wrong, actual: Fixture.sha256(image.manifest))) {
            try image.repository.putManifest(image.manifest, contentType: nil, reference: .digest(wrong))
        }
        let sha512 = Fixture.sha512(image.manifest)
        #expect(try image.repository.putManifest(image.manifest, contentType: nil, reference: .digest(sha512)).digest == sha512)
        #expect(try image.repository.manifest(.digest(sha512)).bytes == image.manifest)
    }

    @Test func aManifestNamingAnUnlinkedBlobIsRefused() throws {
        let image = try Image()
        let missing = Fixture.sha256(Array("never pushed".utf8))
        let manifest = Fixture.imageManifest(config: image.config, layers: [image.layer, missing])
        #expect(throws: StorageError.manifestBlobUnknown(missing)) {
            try image.repository.putManifest(manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        }
        // A blob linked only into another repository does not count either.
        let elsewhere = try Fixture.push(Array("elsewhere".utf8), to: Fixture.name("other"), in: image.store)
        #expect(throws: StorageError.manifestBlobUnknown(elsewhere)) {
            try image.repository.putManifest(
                Fixture.imageManifest(config: image.config, layers: [elsewhere]), contentType: nil, reference: .tag(Fixture.tag("v1")))
        }
        #expect(throws: StorageError.nameUnknown(try Fixture.name("never"))) { try image.store.repository(Fixture.name("never")).tags() }
        #expect(try image.repository.tags().isEmpty)
    }

    @Test func anIndexNeedsItsChildManifestsInTheRepository() throws {
        let image = try Image()
        let child = try image.repository.putManifest(image.manifest, contentType: nil, reference: .digest(Fixture.sha256(image.manifest)))
        let absent = Fixture.sha256(Array("absent".utf8))
        func index(_ digest: Digest) -> [UInt8] {
            let child = #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":1}"#
            return Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(child)]}"#.utf8)
        }
        #expect(throws: StorageError.manifestBlobUnknown(absent)) {
            try image.repository.putManifest(index(absent), contentType: nil, reference: .tag(Fixture.tag("multi")))
        }
        let stored = try image.repository.putManifest(index(child.digest), contentType: nil, reference: .tag(Fixture.tag("multi")))
        #expect(stored.mediaType == ManifestMediaType.ociIndex.rawValue)
    }

    @Test func invalidManifestsAreRefusedWithTheParsersError() throws {
        let image = try Image()
        let tag = try Fixture.tag("v1")
        do throws(StorageError) {
            _ = try image.repository.putManifest(Array("nope".utf8), contentType: nil, reference: .tag(tag))
            Issue.record("accepted junk")
        } catch {
            #expect(error.registryError?.code == .manifestInvalid)
        }
    }

    @Test func deletingAManifestRemovesItsTagsButDeletingATagKeepsTheManifest() throws {
        let image = try Image()
        let stored = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        _ = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("latest")))
        try image.repository.deleteTag(Fixture.tag("latest"))
        #expect(try image.repository.tags() == ["v1"])
        #expect(try image.repository.manifest(.digest(stored.digest)).bytes == image.manifest)
        #expect(throws: StorageError.manifestUnknown(.tag(try Fixture.tag("latest")))) {
            try image.repository.deleteTag(Fixture.tag("latest"))
        }
        try image.repository.deleteManifest(stored.digest)
        #expect(try image.repository.tags().isEmpty)
        #expect(throws: StorageError.manifestUnknown(.digest(stored.digest))) { try image.repository.manifest(.digest(stored.digest)) }
        #expect(throws: StorageError.manifestUnknown(.tag(try Fixture.tag("v1")))) {
            try image.repository.manifest(.tag(Fixture.tag("v1")))
        }
        #expect(throws: StorageError.manifestUnknown(.digest(stored.digest))) { try image.repository.deleteManifest(stored.digest) }
        #expect(try !image.directory.allPaths().contains { $0.contains(".deleted-tag-") || $0.contains(".tmp-") })
    }

    @Test func everyRevisionIsListedTaggedOrNot() throws {
        let image = try Image()
        #expect(try image.repository.manifestDigests().isEmpty)
        let tagged = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let other = Fixture.imageManifest(config: image.config, layers: [])
        let untagged = try image.repository.putManifest(other, contentType: nil, reference: .digest(Fixture.sha512(other)))
        let expected = [tagged.digest, untagged.digest].sorted { $0.description < $1.description }
        #expect(try image.repository.manifestDigests() == expected)
        try image.repository.deleteManifest(untagged.digest)
        #expect(try image.repository.manifestDigests() == [tagged.digest])
    }

    @Test func manifestsLinkedOnlyInLayersAreServedAsDistributionServesThem() throws {
        let image = try Image()
        // What distribution 2.1.0 wrote: the manifest pushed like a layer.
        let legacy = try Fixture.push(image.manifest, to: image.name, in: image.store)
        #expect(try image.repository.manifest(.digest(legacy)).bytes == image.manifest)
        // A layer is never served as a manifest.
        #expect(throws: StorageError.manifestUnknown(.digest(image.layer))) { try image.repository.manifest(.digest(image.layer)) }
    }

    @Test func retaggingMovesTheTag() throws {
        let image = try Image()
        let first = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let other = Fixture.imageManifest(config: image.config, layers: [])
        let second = try image.repository.putManifest(other, contentType: nil, reference: .tag(Fixture.tag("v1")))
        #expect(first.digest != second.digest)
        #expect(try image.repository.resolve(.tag(Fixture.tag("v1"))) == second.digest)
    }

    @Test func unlinkingALayerHidesItFromTheRepositoryOnly() throws {
        let image = try Image()
        try image.repository.unlinkLayer(image.layer)
        #expect(try image.repository.blobSize(image.layer) == nil)
        #expect(throws: StorageError.blobUnknown(image.layer)) { _ = try image.repository.openBlob(image.layer) }
        #expect(try image.store.blobs.size(of: image.layer) != nil)
        #expect(throws: StorageError.blobUnknown(image.layer)) { try image.repository.unlinkLayer(image.layer) }
    }

    @Test func tagsArePagedInByteOrder() throws {
        let image = try Image()
        for tag in ["v2", "V1", "latest", "_x", "v10"] {
            _ = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag(tag)))
        }
        let all = try image.repository.tags()
        #expect(all == ["V1", "_x", "latest", "v10", "v2"])
        var request = PageRequest(count: 2)
        var pages: [[String]] = []
        while true {
            let page = request.page(of: all)
            pages.append(page.entries)
            guard let link = request.nextLink(path: "/v2/library/app/tags/list", entries: page.entries, hasMore: page.hasMore) else {
                break
            }
            #expect(link.hasPrefix("</v2/library/app/tags/list?n=2&last="))
            request = PageRequest(count: 2, last: page.entries.last)
        }
        #expect(pages == [["V1", "_x"], ["latest", "v10"], ["v2"]])
    }
}
