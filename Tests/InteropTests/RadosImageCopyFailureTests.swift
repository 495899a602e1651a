import Foundation
import TestSupport
import Testing

/// An import that stops half-way, because its source fails or because it
/// is interrupted, removes the image it made and says so; the source is a
/// file served by nbdfuse from nbdkit, so the test decides where it stops.
@Suite struct RadosImageCopyFailureTests {
    @Test func aSourceThatFailsHalfWayLeavesNoImageBehind() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let source = try await FuseSourceFile(
            mebibytes: 64, .failing(from: 32 << 20), in: fixture.directory, cleanup: fixture.cleanup)
        let image = try fixture.newImage()
        let result = try await fixture.image(["import", source.path, image])
        #expect(result.exitStatus == 1, "\(result)")
        #expect(result.standardError.contains("import failed: reading the source at offset"), "\(result)")
        #expect(result.standardError.contains("Input/output error"), "the cause is kept:\n\(result)")
        #expect(result.standardError.contains("removed the partly written image \(image)"), "\(result)")
        let info = try await fixture.image(["info", image])
        #expect(info.standardError.contains("does not exist"), "\(info)")
        #expect(try await fixture.anyObjectLeft(image) == false, "every object of the half-made image is gone")
    }

    @Test func anInterruptedImportFinishesItsRequestsAndRemovesTheImage() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        // Every read waits: the copy has requests in flight when interrupted.
        let source = try await FuseSourceFile(mebibytes: 256, .held, in: fixture.directory, cleanup: fixture.cleanup)
        let image = try fixture.newImage()
        let importing = try ChildProcess(
            try Tool.buse(), ["image", "import", source.path, image, "--conf", fixture.conf],
            outputPrefix: fixture.directory.unique("import"), currentDirectory: fixture.directory.path)
        try await source.waitForFirstRead()
        try await waitUntil("the import catches SIGINT", timeout: .seconds(600)) {
            if let ended = importing.termination { throw InteropError("the import \(ended) early:\n\(importing.standardError)") }
            return BuseServer.catches(SIGINT, processIdentifier: importing.processIdentifier)
        }
        #expect(try await fixture.image(["info", image]).succeeded, "the image was made before the copy started")
        importing.send(SIGINT)
        try await waitUntil("the import takes the interrupt", timeout: .seconds(600)) {
            importing.standardError.contains("import: interrupted")
        }
        try source.release()
        let ended = await importing.waitForTermination(timeout: .seconds(600))
        if ended == nil { importing.send(SIGKILL) }
        #expect(ended == .exit(1), "\(importing.standardError)")
        #expect(importing.standardError.contains("import failed: interrupted by SIGINT or SIGTERM"), "\(importing.standardError)")
        #expect(importing.standardError.contains("removed the partly written image \(image)"), "\(importing.standardError)")
        #expect(try await fixture.anyObjectLeft(image) == false, "every object of the half-made image is gone")
    }
}
