import Foundation
import Testing

/// fio's nbd engine (libnbd) on a RADOS export: ``VerifiedFio``'s random
/// writes of 4K to 64K on 4 connections, every block read back and checked
/// against its crc32c. The image has 64 KiB objects, so most requests span two objects
/// and are split into parallel RADOS operations.
@Suite struct RadosFioTests {
    @Test func fioRandomWritesOverFourConnectionsToARadosImageVerifyWithCrc32c() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(
            size: "256M", objectSize: "64K", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)
        try await VerifiedFio.run(against: server, export: "disk", name: "rados-random-writes-verified", in: directory)
        await server.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }
}
