import Foundation
import RegistryCore
import Testing

@testable import RegistryStorage

/// `SyncPolicy.grouped`: the steps of a commit end with one `syncfs` of the
/// filesystem instead of an `fsync` per directory, and concurrent commits
/// share them; what is stored is the same as with `.each`.
@Suite struct DurabilityTests {
    let content = Array("grouped syncs: one syncfs per step, shared by whoever waits".utf8)

    /// Committing an upload has two steps that must be durable in order:
    /// the blob in place, then the link that names it (a link must never
    /// survive a crash that lost its blob).
    @Test func committingAnUploadTakesOneFilesystemSyncForTheBlobAndOneForItsLink() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store(syncPolicy: .grouped)
        let name = try Fixture.name("team/app")
        let id = try store.uploads.start(name, now: 1000)
        var upload = try store.uploads.open(name, id)
        try upload.append(content)
        let before = store.layout.durability.filesystemSyncs
        let digest = Fixture.sha256(content)
        _ = try store.commit(upload, as: digest)
        #expect(store.layout.durability.filesystemSyncs - before == 2)
        #expect(try store.repository(name).openBlob(digest).read(at: 0, length: 1000) == content)
    }

    @Test func theSameRootIsWrittenWhicheverThePolicy() throws {
        var trees: [[String]] = []
        for policy in SyncPolicy.allCases {
            let directory = TemporaryDirectory()
            let store = try directory.store(syncPolicy: policy)
            let name = try Fixture.name("library/alpine")
            _ = try Fixture.push(content, to: name, in: store)
            trees.append(try directory.allPaths().filter { !$0.contains("_uploads") })
        }
        #expect(trees[0] == trees[1])
    }

    /// Eight threads commit at once: every blob is stored and linked, and no
    /// caller returned on a sync that began before its call (each commit's
    /// blob reads back after its own return, checked on its own thread).
    @Test func concurrentCommitsAllLandWithAtMostOneSyncPerStep() async throws {
        let directory = TemporaryDirectory()
        let store = try directory.store(syncPolicy: .grouped)
        let blobs = (0..<8).map { index in Array("blob \(index) ".utf8) + content }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, blob) in blobs.enumerated() {
                group.addTask {
                    let name = try Fixture.name("team/app\(index)")
                    let digest = try Fixture.push(blob, to: name, in: store)
                    #expect(try store.repository(name).blobSize(digest) == UInt64(blob.count))
                }
            }
            try await group.waitForAll()
        }
        // Three steps per push (session, blob, link): at most one sync each.
        #expect(store.layout.durability.filesystemSyncs <= UInt64(3 * blobs.count + 1))
    }

    @Test func aSyncGroupRunsANewSyncForACallerThatComesAfterTheLastOneEnded() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store(syncPolicy: .grouped)
        let durability = store.layout.durability
        let before = durability.filesystemSyncs
        try durability.sync(directory.root)
        try durability.sync(directory.root)
        #expect(durability.filesystemSyncs - before == 2)
    }
}
