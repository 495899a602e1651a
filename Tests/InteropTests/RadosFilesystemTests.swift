import Foundation
import Testing

/// ext4 on a RADOS image: nbdfuse shows the export as a file, a loop device
/// makes it a block device, mkfs.ext4 (which discards the whole device
/// first) makes the filesystem, files are written, and after unmounting
/// e2fsck finds it clean and a remount finds the files unchanged. Needs
/// root, /dev/fuse and loop devices; without them the test fails and says which.
@Suite struct RadosFilesystemTests {
    @Test func ext4OnARadosImageSurvivesUnmountFsckAndRemount() async throws {
        try await Ext4OnExport.checkPrerequisites()
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(size: "256M", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)

        try await Ext4OnExport.check(
            uri: server.uri("disk"), files: ["small": 1, "medium": 5, "nested/large": 24], in: directory, cleanup: cleanup)
        await server.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }
}
