import Foundation
import Testing

/// One writer at a time: a second `buse serve` of an image that another
/// buse writes is refused at start and says who holds it, and the first
/// keeps serving. A read-only export takes no lock and may serve beside it.
@Suite struct RadosLockTests {
    @Test func aSecondWriterIsRefusedAndToldWhoHoldsTheImage() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(size: "64M", conf: conf, cleanup: cleanup, in: directory)
        let first = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)
        _ = try await Nbdsh.run(#"h.pwrite(b"\x5a" * 65536, 0)"#, uri: first.uri("disk"), in: directory)

        let secondDirectory = try TemporaryDirectory()
        let second = try await run(
            try Tool.buse(),
            ["serve", "--unix", secondDirectory.file("buse.sock"), "--export", "disk=\(image.uri())"],
            in: secondDirectory, timeout: .seconds(60))
        #expect(second.termination != nil, "a second writer should be refused at start, not keep running:\n\(second)")
        #expect(second.exitStatus != 0, "a second writer should exit non-zero:\n\(second)")
        #expect(second.standardError.contains("is in use by"), "the refusal should say who holds the image:\n\(second)")

        // A reader takes no lock, and sees what the writer wrote.
        let reader = try await BuseServer(exports: ["disk=\(image.uri("readonly"))"], in: secondDirectory)
        let read = try await Nbdsh.run(
            #"report("read", h.pread(65536, 0) == b"\x5a" * 65536)"#, uri: reader.uri("disk"), in: secondDirectory)
        #expect(read["read"] == "True", "a read-only export beside the writer should see its data: \(read)")
        await reader.stopExpectingCleanExit()

        let still = try await Nbdsh.run(
            #"""
            step("write", lambda: h.pwrite(b"\x33" * 4096, 1 << 20))
            report("read", h.pread(4096, 1 << 20) == b"\x33" * 4096)
            """#, uri: first.uri("disk"), in: directory)
        #expect(still["write"] == "ok" && still["read"] == "True", "the first writer should keep serving: \(still)")
        await first.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }
}
