import Foundation
import Testing

/// fio's nbd engine (libnbd) on memory and file exports: random writes of
/// mixed sizes on 4 connections, every block read back and checked against
/// its crc32c (see ``VerifiedFio``).
@Suite struct FioTests {
    @Test(arguments: ["memory:256M", "file"])
    func fioRandomWritesOverFourConnectionsVerifyWithCrc32c(device: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=256M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        try await VerifiedFio.run(against: server, export: "disk", name: "random-writes-verified", in: directory)
        await server.stopExpectingCleanExit()
    }
}
