import Foundation
import Testing

/// `write-around=SIZE` on a RADOS export: writes without FUA are
/// acknowledged once sent, and FLUSH is where RADOS catches up. On a
/// private cluster (its OSD is frozen and stopped), served with `timeout=8`:
/// - with the OSD frozen, writes are still acknowledged, a FLUSH waits for
///   it, and once it runs again the flush succeeds and the data reads back;
/// - with the OSD stopped, writes are still acknowledged, but they fail in
///   RADOS after the timeout, so the next FLUSH fails with EIO, and so does
///   every FLUSH after it: the client is told its data was lost;
/// - buse stays up throughout, and serves the image again once the OSD is back.
@Suite struct RadosWriteAroundTests {
    /// Every write lands in object 0 (written first, so the object map is
    /// already stored and no write has to wait for RADOS to record it).
    static let client = """
        import os, time
        def wait_for(path):
            deadline = time.monotonic() + 240
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
        def block(n):
            return bytes([n]) * 4096
        step("write before", lambda: h.pwrite(block(1), 0))
        step("flush before", lambda: h.flush())
        report("ready", "yes")

        wait_for(paused)
        writes = [outcome(lambda i=i: h.pwrite(block(10 + i), (i + 1) * 65536)) for i in range(8)]
        report("writes while frozen", ",".join(writes))
        report("flushing", "yes")
        step("flush while frozen", lambda: h.flush())
        reads = [outcome(lambda i=i: h.pread(4096, (i + 1) * 65536)) for i in range(8)]
        expected = [outcome(lambda i=i: block(10 + i)) for i in range(8)]
        report("reads after the flush", reads == expected)

        wait_for(stopped)
        writes = [outcome(lambda i=i: h.pwrite(block(30 + i), (i + 20) * 65536)) for i in range(4)]
        report("writes while stopped", ",".join(writes))
        step("flush after lost writes", lambda: h.flush())
        step("flush again", lambda: h.flush())

        wait_for(osd_back)
        step("read after the OSD is back", lambda: h.pread(4096, 0))
        report("expected read", outcome(lambda: block(1)))
        step("write after the OSD is back", lambda: h.pwrite(block(50), 4096))
        """

    @Test func writesAreAcknowledgedOnceSentAndFlushWaitsForRados() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let cluster = try await PrivateCluster(in: directory, cleanup: cleanup)
        try await runChecked(
            try Tool.buse(), ["image", "create", "buse/around", "--size", "64M", "--conf", cluster.conf], in: directory)
        let server = try await BuseServer(
            exports: ["disk=rados:buse/around?conf=\(cluster.conf)&timeout=8&write-around=1M"], in: directory)
        let (paused, stopped, osdBack) = (directory.file("paused"), directory.file("stopped"), directory.file("osd-back"))
        let client = try BackgroundNbdsh(
            Self.client, uri: server.uri("disk"),
            variables: ["paused": paused, "stopped": stopped, "osd_back": osdBack], in: directory)
        try await client.waitForReport("ready", timeout: .seconds(60))

        // Frozen: acknowledged anyway, and the flush waits.
        try await cluster.pauseOSD(in: directory)
        try touch(paused)
        try await client.waitForReport("flushing", timeout: .seconds(30))
        #expect(client.report["writes while frozen"] == Array(repeating: "ok", count: 8).joined(separator: ","))
        try await Task.sleep(for: .seconds(2))
        #expect(client.report["flush while frozen"] == nil, "a flush must wait for the frozen OSD: \(client.report)")
        try await cluster.resumeOSD(in: directory)
        try await client.waitForReport("reads after the flush", timeout: .seconds(30))
        #expect(client.report["flush while frozen"] == "ok", "\(client.report)\n\(server.log)")
        #expect(client.report["reads after the flush"] == "True", "\(client.report)")

        // Stopped: acknowledged, then lost; every later flush says so.
        try await cluster.stopOSD(in: directory)
        try touch(stopped)
        try await client.waitForReport("flush again", timeout: .seconds(90))
        let lost = client.report
        #expect(lost["writes while stopped"] == "ok,ok,ok,ok", "\(lost)")
        #expect(lost["flush after lost writes"] == "EIO", "\(lost)\n\(server.log)")
        #expect(lost["flush again"] == "EIO", "\(lost)")
        #expect(server.log.contains("after it was acknowledged"), "the loss is logged:\n\(server.log)")
        #expect(server.process.termination == nil, "buse should stay up:\n\(server.log)")

        try await cluster.startOSD(in: directory)
        try touch(osdBack)
        let after = try await client.finish(timeout: .seconds(120))
        #expect(after["read after the OSD is back"] == after["expected read"], "\(after)\n\(server.log)")
        #expect(after["write after the OSD is back"] == "ok", "\(after)\n\(server.log)")
        await server.stopExpectingCleanExit()
    }

    private func touch(_ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw InteropError("cannot create \(path)") }
    }
}
