import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

/// fsck finds what only damage from outside can cause (the registry itself
/// never leaves it), reports it, and with repair mends it so that a second
/// run is clean and every intact image still pulls.
@Suite struct FsckTests {
    @Test func aRegistryWrittenByTheStoreIsClean() throws {
        let registry = try GarbageCollectionTests.Registry()
        let report = try Fsck().run(registry.store)
        #expect(report.isClean, "\(report.findings)")
        #expect(report.blobsChecked == 6 && report.repositoriesChecked == 2)
    }

    @Test func damageIsFoundRepairedAndASecondRunIsClean() throws {
        let registry = try GarbageCollectionTests.Registry()
        let layout = registry.store.layout
        // A blob whose bytes changed on disk.
        let corrupt = registry.keptConfig
        let file = try DurableFile(path: layout.blobData(corrupt), flags: O_WRONLY)
        try file.write(Array("tampered".utf8), at: 0)
        // A blob removed behind the registry's back: the tool's layer link now dangles.
        try Directory.removeTree(layout.blobDirectory(registry.shared))
        // A partial blob: a directory without data, and a leftover temp file.
        let partial = Fixture.sha256(Array("never finished".utf8))
        try Directory.create(layout.blobDirectory(partial), below: layout.base, layout.durability)
        let tool = try Fixture.name("library/tool")
        let keptDirectory = layout.blobDirectory(registry.keptManifest)
        _ = try DurableFile(path: keptDirectory + "/.tmp-data-1", flags: O_WRONLY | O_CREAT)

        let report = try Fsck(repair: true).run(registry.store)
        #expect(report.findings.contains { if case .digestMismatch(corrupt, _) = $0 { true } else { false } }, "\(report.findings)")
        #expect(report.findings.contains(.partialBlob(path: layout.blobDirectory(partial))), "\(report.findings)")
        #expect(report.findings.contains(.leftover(path: keptDirectory + "/.tmp-data-1")), "\(report.findings)")
        #expect(
            report.findings.contains(.danglingLink(path: layout.layerLink(tool, registry.shared), missing: registry.shared)),
            "\(report.findings)")
        #expect(report.repaired)

        let again = try Fsck().run(registry.store)
        #expect(again.isClean, "after repair: \(again.findings)")
        #expect(try registry.store.blobs.size(of: corrupt) == nil, "a corrupt blob is deleted, to be pushed again")
        #expect(try registry.store.repository(tool).blobSize(registry.shared) == nil)
    }

    @Test func withoutRepairNothingChanges() throws {
        let registry = try GarbageCollectionTests.Registry()
        try Directory.removeTree(registry.store.layout.blobDirectory(registry.shared))
        let before = try registry.directory.allPaths()
        let report = try Fsck().run(registry.store)
        #expect(!report.isClean && !report.repaired)
        #expect(try registry.directory.allPaths() == before)
    }
}
