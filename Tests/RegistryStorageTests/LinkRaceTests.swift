import Dispatch
import Glibc
import RegistryCore
import Synchronization
import Testing

@testable import RegistryStorage

/// A DELETE of a link and a push of the same link, at the same time, in one
/// repository: the DELETE may remove the link's directory only when nothing
/// of the push is in it, and the push never fails because the directory
/// went away under it.
@Suite struct LinkRaceTests {
    /// A push between writing its temp file and renaming it into place
    /// (the temp file is left there by hand): the DELETE leaves the
    /// directory, and so the temp file, alone.
    @Test func unlinkingALayerLeavesAConcurrentPushsTempFileInPlace() throws {
        let image = try ManifestStoreTests.Image()
        let link = image.store.layout.layerLink(image.name, image.layer)
        let temporary = LinkFile.parent(of: link) + "/.tmp-concurrent-push"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(descriptor >= 0)
        close(descriptor)

        try image.repository.unlinkLayer(image.layer)

        #expect(access(temporary, F_OK) == 0, "the push's temp file survives the DELETE")
        #expect(rename(temporary, link) == 0, "and the push's rename still lands")
    }

    /// Once the link is gone and nothing else is in its directory, the
    /// directory goes too (as before: no empty directories left behind).
    @Test func unlinkingALayerRemovesItsEmptyDirectory() throws {
        let image = try ManifestStoreTests.Image()
        let directory = LinkFile.parent(of: image.store.layout.layerLink(image.name, image.layer))
        try image.repository.unlinkLayer(image.layer)
        #expect(access(directory, F_OK) != 0)
    }

    /// Links and unlinks of one layer racing on two threads, many times:
    /// no link write fails, and the last link written is there at the end.
    @Test func linksAndUnlinksRacingNeverFailAPush() throws {
        let image = try ManifestStoreTests.Image()
        let repository = image.repository
        let layer = image.layer
        let rounds = 500
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            for _ in 0..<rounds {
                do {
                    if side == 0 { try repository.linkLayer(layer) } else { try repository.unlinkLayer(layer) }
                } catch let error as StorageError where side == 1 && error == .blobUnknown(layer) {
                    // Already unlinked: the other side has not linked again yet.
                } catch {
                    failures.withLock { $0.append("\(side == 0 ? "link" : "unlink"): \(error)") }
                }
            }
        }
        let failed = failures.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.prefix(5))")
        try repository.linkLayer(layer)
        #expect(try repository.blobSize(layer) != nil)
    }
}
