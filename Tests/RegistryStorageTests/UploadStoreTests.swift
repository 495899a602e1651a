import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct UploadStoreTests {
    let content = Array("the quick brown fox jumps over the lazy dog, twice: the quick brown fox".utf8)

    @Test func aCommittedBlobReadsBackThroughItsRepository() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("library/alpine")
        let digest = try Fixture.push(content, to: name, in: store)
        let repository = store.repository(name)
        #expect(try repository.blobSize(digest) == UInt64(content.count))
        let reader = try repository.openBlob(digest)
        #expect(reader.size == UInt64(content.count))
        #expect(try reader.read(at: 0, length: 1000) == content)
        #expect(try reader.read(at: 4, length: 5) == Array(content[4..<9]))
        #expect(try directory.contents("docker/registry/v2/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data") != nil)
    }

    @Test func linkFilesHoldExactlyTheDigestWithNoNewline() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let digest = try Fixture.push(content, to: try Fixture.name("a"), in: store)
        let link = try directory.contents("docker/registry/v2/repositories/a/_layers/sha256/\(digest.encoded)/link")
        #expect(link == "sha256:" + digest.encoded)
    }

    @Test func eachAppendIsOnDiskAsSoonAsItReturns() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        let id = try store.uploads.start(name, now: 0)
        var upload = try store.uploads.open(name, id)
        for chunk in [Array(content[0..<10]), Array(content[10..<30])] {
            try upload.append(chunk)
            #expect(try store.uploads.size(name, id) == upload.size)
        }
        #expect(upload.size == 30)
    }

    @Test func aDigestMismatchLeavesNothingVisible() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        let id = try store.uploads.start(name, now: 0)
        var upload = try store.uploads.open(name, id)
        try upload.append(content)
        let claimed = Fixture.sha256(Array("something else".utf8))
        do {
            _ = try store.commit(upload, as: claimed)
            Issue.record("a wrong digest was accepted")
        } catch {
            #expect(error == .digestMismatch(expected: claimed, actual: Fixture.sha256(content)))
        }
        #expect(try store.blobs.size(of: claimed) == nil)
        #expect(try store.blobs.size(of: Fixture.sha256(content)) == nil)
        #expect(try store.repository(name).blobSize(claimed) == nil)
        #expect(throws: StorageError.uploadUnknown(id)) { _ = try store.uploads.open(name, id) }
        #expect(try !directory.allPaths().contains { $0.contains("/blobs/sha256/") || $0.contains("_layers/") })
    }

    @Test func sha512DigestsAreVerifiedAndStoredUnderTheirAlgorithm() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        var upload = try store.uploads.open(name, try store.uploads.start(name, now: 0))
        try upload.append(content)
        let digest = Fixture.sha512(content)
        #expect(try store.commit(upload, as: digest) == UInt64(content.count))
        #expect(try store.repository(name).blobSize(digest) == UInt64(content.count))
        #expect(try directory.contents("docker/registry/v2/blobs/sha512/\(digest.encoded.prefix(2))/\(digest.encoded)/data") != nil)
        #expect(try directory.contents("docker/registry/v2/repositories/a/_layers/sha512/\(digest.encoded)/link") == digest.description)
    }

    @Test(arguments: [true, false])
    func anUploadResumesAfterARestartAtTheRightOffset(suspended: Bool) throws {
        let directory = TemporaryDirectory()
        let name = try Fixture.name("a/b")
        let id: UploadID
        do {
            let store = try directory.store()
            id = try store.uploads.start(name, now: 0)
            var upload = try store.uploads.open(name, id)
            try upload.append(Array(content[0..<25]))
            // Without suspend, the upload is just dropped, as when a request dies.
            if suspended { try store.uploads.suspend(upload) }
        }
        let restarted = try directory.store()
        #expect(try restarted.uploads.size(name, id) == 25)
        var upload = try restarted.uploads.open(name, id)
        #expect(upload.size == 25)
        try upload.append(Array(content[25...]))
        #expect(try restarted.commit(upload, as: Fixture.sha256(content)) == UInt64(content.count))
    }

    @Test func suspendedUploadsResumeFromTheKeptHash() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        let id = try store.uploads.start(name, now: 0)
        for start in stride(from: 0, to: content.count, by: 10) {
            var upload = try store.uploads.open(name, id)
            #expect(upload.size == UInt64(start))
            try upload.append(Array(content[start..<min(start + 10, content.count)]))
            try store.uploads.suspend(upload)
        }
        #expect(try store.commit(store.uploads.open(name, id), as: Fixture.sha256(content)) == UInt64(content.count))
    }

    @Test func aRetriedCommitOfAnExistingDigestSucceeds() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let first = try Fixture.push(content, to: try Fixture.name("a"), in: store)
        let second = try Fixture.push(content, to: try Fixture.name("a"), in: store, chunk: 3)
        let other = try Fixture.push(content, to: try Fixture.name("b"), in: store)
        #expect(first == second && second == other)
        #expect(try store.repository(Fixture.name("b")).openBlob(first).read(at: 0, length: 1000) == content)
        try store.repository(Fixture.name("a")).linkLayer(first)
    }

    @Test func blobsMountFromARepositoryThatHasThem() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let digest = try Fixture.push(content, to: Fixture.name("source"), in: store)
        let target = try Fixture.name("target")
        #expect(try !store.mount(digest, from: nil, into: target))
        #expect(try !store.mount(digest, from: Fixture.name("elsewhere"), into: target))
        #expect(try !store.mount(Fixture.sha256([1]), from: Fixture.name("source"), into: target))
        #expect(try store.repository(target).blobSize(digest) == nil)
        #expect(try store.mount(digest, from: Fixture.name("source"), into: target))
        #expect(try store.repository(target).blobSize(digest) == UInt64(content.count))
    }

    @Test func twoRequestsCannotAppendToOneUpload() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        let id = try store.uploads.start(name, now: 0)
        let first = try store.uploads.open(name, id)
        #expect(throws: StorageError.uploadBusy(id)) { _ = try store.uploads.open(name, id) }
        _ = consume first
        _ = try store.uploads.open(name, id)
    }

    @Test func aFinishedOrBusyUploadCannotBeOpenedOrCancelled() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        let id = try store.uploads.start(name, now: 0)
        var upload = try store.uploads.open(name, id)
        #expect(throws: StorageError.uploadBusy(id)) { try store.uploads.cancel(name, id) }
        try upload.append(content)
        _ = try store.commit(upload, as: Fixture.sha256(content))
        #expect(throws: StorageError.uploadUnknown(id)) { _ = try store.uploads.open(name, id) }
        #expect(throws: StorageError.uploadUnknown(id)) { try store.uploads.cancel(name, id) }
        #expect(try store.repository(name).openBlob(Fixture.sha256(content)).read(at: 0, length: 1000) == content)
    }

    @Test func anUploadCannotGrowPastTheLimit() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store(uploadSizeMaximum: 10)
        let name = try Fixture.name("a")
        let id = try store.uploads.start(name, now: 0)
        var upload = try store.uploads.open(name, id)
        try upload.append(Array(content[0..<6]))
        #expect(throws: StorageError.uploadTooLarge(limit: 10)) { try upload.append(Array(content[0..<5])) }
        #expect(upload.size == 6)
        #expect(try store.uploads.size(name, id) == 6)
    }

    @Test func anUploadAlreadyPastALoweredLimitIsRefusedNotTrapped() throws {
        let directory = TemporaryDirectory()
        let name = try Fixture.name("a")
        let id = try directory.store().uploads.start(name, now: 0)
        var upload = try directory.store().uploads.open(name, id)
        try upload.append(content)
        _ = consume upload
        var reopened = try directory.store(uploadSizeMaximum: 10).uploads.open(name, id)
        #expect(throws: StorageError.uploadTooLarge(limit: 10)) { try reopened.append([1]) }
    }

    @Test func unknownAndCancelledUploadsAreUnknown() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let name = try Fixture.name("a")
        let stranger = try UploadID(validating: "0f8fad5b-d9cb-469f-a165-70867728950e")
        #expect(throws: StorageError.uploadUnknown(stranger)) { try store.uploads.size(name, stranger) }
        #expect(throws: StorageError.uploadUnknown(stranger)) { try store.uploads.cancel(name, stranger) }
        let id = try store.uploads.start(name, now: 0)
        try store.uploads.cancel(name, id)
        #expect(throws: StorageError.uploadUnknown(id)) { _ = try store.uploads.open(name, id) }
    }

    @Test func sessionsOlderThanTheCutoffArePurged() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let old = try store.uploads.start(Fixture.name("a/b"), now: 1000)
        let fresh = try store.uploads.start(Fixture.name("a/b"), now: 5000)
        let elsewhere = try store.uploads.start(Fixture.name("c"), now: 1000)
        let busy = try store.uploads.start(Fixture.name("c"), now: 1000)
        let inUse = try store.uploads.open(Fixture.name("c"), busy)
        #expect(try store.uploads.purge(startedBefore: 3000) == 2)
        #expect(inUse.size == 0)
        #expect(try store.uploads.size(Fixture.name("c"), busy) == 0)
        #expect(throws: StorageError.uploadUnknown(old)) { try store.uploads.size(Fixture.name("a/b"), old) }
        #expect(throws: StorageError.uploadUnknown(elsewhere)) { try store.uploads.size(Fixture.name("c"), elsewhere) }
        #expect(try store.uploads.size(Fixture.name("a/b"), fresh) == 0)
    }

    @Test func startedAtIsRFC3339AsDistributionWritesIt() throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let id = try store.uploads.start(Fixture.name("a"), now: 1_700_000_000)
        #expect(try directory.contents("docker/registry/v2/repositories/a/_uploads/\(id)/startedat") == "2023-11-14T22:13:20Z")
    }
}
