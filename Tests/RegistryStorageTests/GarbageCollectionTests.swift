import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

/// Online garbage collection: what no manifest references and is older than
/// the grace period goes; everything else stays, even when a push races it.
@Suite struct GarbageCollectionTests {
    /// Two repositories sharing a layer; `app` also has a manifest that is
    /// then deleted, leaving its config, its own layer and itself unreferenced.
    struct Registry {
        let directory = TemporaryDirectory()
        let store: RegistryStore
        let shared: Digest, orphanLayer: Digest, orphanConfig: Digest, keptConfig: Digest
        let deletedManifest: Digest, keptManifest: Digest

        init() throws {
            store = try directory.store()
            let app = try Fixture.name("library/app"), tool = try Fixture.name("library/tool")
            shared = try Fixture.push(Array("shared layer".utf8), to: app, in: store)
            orphanLayer = try Fixture.push(Array("only in the deleted image".utf8), to: app, in: store)
            orphanConfig = try Fixture.push(Array("{\"old\":true}".utf8), to: app, in: store)
            let deleted = try store.repository(app).putManifest(
                Fixture.imageManifest(config: orphanConfig, layers: [shared, orphanLayer]), contentType: nil,
                reference: .tag(Fixture.tag("old")))
            deletedManifest = deleted.digest
            try store.repository(app).deleteManifest(deletedManifest)
            #expect(try store.mount(shared, from: app, into: tool))
            keptConfig = try Fixture.push(Array("{\"new\":true}".utf8), to: tool, in: store)
            keptManifest = try store.repository(tool).putManifest(
                Fixture.imageManifest(config: keptConfig, layers: [shared]), contentType: nil, reference: .tag(Fixture.tag("v1"))
            ).digest
        }

        /// Makes every blob look last modified two hours ago.
        func age() throws {
            for digest in try store.blobs.all() {
                var times = [timespec(tv_sec: time(nil) - 7200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7200, tv_nsec: 0)]
                #expect(utimensat(AT_FDCWD, store.layout.blobData(digest), &times, 0) == 0)
            }
        }

        func has(_ digest: Digest) throws -> Bool { try store.blobs.size(of: digest) != nil }
    }

    @Test func unreferencedBlobsPastTheGracePeriodAreDeletedAndTheRestKept() throws {
        let registry = try Registry()
        try registry.age()
        let summary = try GarbageCollection().run(registry.store)
        for gone in [registry.orphanLayer, registry.orphanConfig, registry.deletedManifest] {
            #expect(try !registry.has(gone), "\(gone) is referenced by nothing")
        }
        for kept in [registry.shared, registry.keptConfig, registry.keptManifest] {
            #expect(try registry.has(kept), "\(kept) is referenced")
        }
        #expect(summary.blobsDeleted == 3 && summary.blobsSeen == 6 && summary.repositories == 2, "\(summary)")
        #expect(summary.bytesFreed > 0)
        #expect(summary.linksRemoved == 2, "app's links to its own layer and config go with them: \(summary)")
        let check = try Fsck().run(registry.store)
        #expect(check.isClean, "a collected registry is clean: \(check.findings)")
        let image = try registry.store.repository(Fixture.name("library/tool")).manifest(.tag(Fixture.tag("v1")))
        #expect(image.digest == registry.keptManifest, "the kept image still pulls")
    }

    @Test func blobsWithinTheGracePeriodAreKept() throws {
        let registry = try Registry()
        let summary = try GarbageCollection(gracePeriod: .seconds(3600)).run(registry.store)
        #expect(summary.blobsDeleted == 0 && summary.blobsKept == 3, "\(summary)")
        #expect(try registry.has(registry.orphanLayer))
    }

    @Test func aDryRunReportsWhatWouldGoAndDeletesNothing() throws {
        let registry = try Registry()
        try registry.age()
        let summary = try GarbageCollection(dryRun: true).run(registry.store)
        #expect(summary.blobsDeleted == 3, "\(summary)")
        #expect(try registry.has(registry.orphanLayer) && registry.has(registry.orphanConfig))
    }

    /// A manifest stored after the mark references a blob the mark did not
    /// see: the manifest pins and touches it, and the sweep keeps it.
    @Test func aManifestPushedDuringTheCollectionKeepsItsBlobs() throws {
        let registry = try Registry()
        try registry.age()
        let app = try Fixture.name("library/app")
        let summary = try GarbageCollection().run(
            registry.store,
            afterMark: {
                let stored = try? registry.store.repository(app).putManifest(
                    Fixture.imageManifest(config: registry.orphanConfig, layers: [registry.orphanLayer]), contentType: nil,
                    reference: .tag(Fixture.tag("again")))
                #expect(stored != nil, "the push during the collection succeeds")
            })
        #expect(try registry.has(registry.orphanLayer) && registry.has(registry.orphanConfig), "\(summary)")
        #expect(try !registry.has(registry.deletedManifest))
        let pulled = try registry.store.repository(app).manifest(.tag(Fixture.tag("again")))
        #expect(pulled.manifest?.referencedBlobs.allSatisfy { (try? registry.has($0.digest)) == true } == true)
    }

    /// A blob the collector deleted is missing for a manifest that comes
    /// later: the push is refused (the client pushes the blob again), never
    /// acknowledged with a dangling reference.
    @Test func aManifestNeverPointsAtABlobTheCollectorDeleted() throws {
        let registry = try Registry()
        try registry.age()
        _ = try GarbageCollection().run(registry.store)
        let app = try Fixture.name("library/app")
        #expect(throws: StorageError.manifestBlobUnknown(registry.orphanLayer)) {
            try registry.store.repository(app).putManifest(
                Fixture.imageManifest(config: registry.shared, layers: [registry.orphanLayer]), contentType: nil,
                reference: .tag(Fixture.tag("late")))
        }
    }
    /// A push that stores a deleted blob again between the sweep and the
    /// removal of its links keeps its new link (the collector re-checks the
    /// blob under its shard lock): a blob answered 201 stays visible.
    @Test func aBlobPushedAgainAfterTheSweepKeepsItsLink() throws {
        let registry = try Registry()
        try registry.age()
        let app = try Fixture.name("library/app")
        let summary = try GarbageCollection().run(
            registry.store,
            afterSweep: {
                #expect(throws: Never.self) { try Fixture.push(Array("only in the deleted image".utf8), to: app, in: registry.store) }
            })
        #expect(try registry.store.repository(app).blobSize(registry.orphanLayer) != nil, "the new link went: \(summary)")
        #expect(summary.blobsDeleted == 3 && summary.linksRemoved == 1, "\(summary)")
        let check = try Fsck().run(registry.store)
        #expect(check.isClean, "\(check.findings)")
    }

    /// A manifest pushed again while the collection runs, whose blob is
    /// still in the store from before its deletion, is touched like a new
    /// one: the sweep keeps it, so the 201 it got is not a lie.
    @Test func aManifestPushedAgainDuringTheCollectionKeepsItsOwnBlob() throws {
        let registry = try Registry()
        try registry.age()
        let app = try Fixture.name("library/app")
        let bytes = Fixture.imageManifest(config: registry.orphanConfig, layers: [registry.shared, registry.orphanLayer])
        let summary = try GarbageCollection().run(
            registry.store,
            afterMark: {
                let stored = try? registry.store.repository(app).putManifest(bytes, contentType: nil, reference: .tag(Fixture.tag("old")))
                #expect(stored?.digest == registry.deletedManifest)
            })
        #expect(try registry.has(registry.deletedManifest), "\(summary)")
        #expect(try registry.store.repository(app).manifest(.tag(Fixture.tag("old"))).digest == registry.deletedManifest)
        #expect(try Fsck().run(registry.store).isClean)
    }

    /// An upload whose last chunk came long before its final PUT commits a
    /// young blob: the grace period counts from the commit, not the chunk.
    @Test func aBlobIsYoungWhenItIsCommittedNotWhenItsLastChunkCame() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("slow/app")
        let bytes = Array("sent two hours before its PUT".utf8)
        let id = try store.uploads.start(name, now: Int64(time(nil)))
        var upload = try store.uploads.open(name, id)
        try upload.append(bytes)
        var times = [timespec(tv_sec: time(nil) - 7200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7200, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, store.layout.uploadData(name, id), &times, 0) == 0)
        _ = try store.commit(upload, as: Fixture.sha256(bytes))
        let summary = try GarbageCollection(gracePeriod: .seconds(3600)).run(store)
        #expect(summary.blobsKept == 1 && summary.blobsDeleted == 0, "\(summary)")
    }
}
