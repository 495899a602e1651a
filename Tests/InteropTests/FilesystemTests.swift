import Foundation
import Testing

/// A real filesystem on an export: nbdfuse shows the export as a file, a
/// loop device makes it a block device, and ext4 lives on it. Needs root,
/// /dev/fuse and loop devices; without them the test fails and says which.
@Suite struct FilesystemTests {
    @Test func ext4OnAnExportSurvivesUnmountFsckAndRemount() async throws {
        try await Ext4OnExport.checkPrerequisites()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let server = try await BuseServer(exports: ["disk=file:\(directory.file("disk.img"))?size=256M"], in: directory)

        try await Ext4OnExport.check(
            uri: server.uri("disk"), files: ["small": 1, "medium": 3, "nested/large": 20], in: directory, cleanup: cleanup)
        await server.stopExpectingCleanExit()
    }
}
