import Foundation
import TestSupport
import Testing

/// `write-around=SIZE` on a RADOS export: writes without FUA are
/// acknowledged once sent, and FLUSH is where RADOS catches up. On a
/// private cluster whose OSD is frozen and then stopped:
/// - with the OSD frozen, writes are still acknowledged, a FLUSH waits for
///   it, and once it runs again the flush succeeds and the data reads back;
/// - with the OSD stopped, writes are still acknowledged, but they fail in
///   RADOS after the timeout, so the next FLUSH fails with EIO, and so does
///   every FLUSH after it: the client is told its data was lost;
/// - buse stays up throughout, and serves the image again once the OSD is back.
///
/// Each half has its own image and export, so that no wall-clock race links
/// them: the frozen half's image has a timeout far beyond any wait of the
/// test (a slow machine only makes it slower, never makes the writes time
/// out), and the stopped half's short timeout is what it sets out to reach.
@Suite struct RadosWriteAroundTests {
    /// Writes land in the image's object 0 (written first, so the object map
    /// is already stored and no write has to wait for RADOS to record it).
    static let prelude = """
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
        """

    /// Writes while the OSD is frozen, then a flush that must wait for it;
    /// reports whether the test had resumed the OSD when the flush returned.
    static let frozenClient =
        prelude + "\n" + """
            wait_for(paused)
            writes = [outcome(lambda i=i: h.pwrite(block(10 + i), (i + 1) * 65536)) for i in range(8)]
            report("writes while frozen", ",".join(writes))
            report("flushing", "yes")
            step("flush while frozen", lambda: h.flush())
            report("resumed before the flush returned", os.path.exists(resumed))
            reads = [outcome(lambda i=i: h.pread(4096, (i + 1) * 65536)) for i in range(8)]
            expected = [outcome(lambda i=i: block(10 + i)) for i in range(8)]
            report("reads after the flush", reads == expected)
            """

    /// Writes while the OSD is stopped (lost after the timeout), flushes
    /// that report the loss, then I/O once the OSD is back.
    static let stoppedClient =
        prelude + "\n" + """
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
        // A 10-minute read lease, renewed every 5: the OSD is frozen for
        // seconds, or minutes on a loaded machine, and must find its lease
        // still valid when it runs again (scripts/ceph-cluster.sh says why).
        let cluster = try await PrivateCluster(in: directory, cleanup: cleanup, readLeaseSeconds: 600)
        for image in ["frozen", "lost"] {
            try await runChecked(
                try Tool.buse(), ["image", "create", "buse/\(image)", "--size", "64M", "--conf", cluster.conf], in: directory)
        }
        let server = try await BuseServer(
            exports: [
                "frozen=rados:buse/frozen?conf=\(cluster.conf)&timeout=3600&write-around=1M",
                "lost=rados:buse/lost?conf=\(cluster.conf)&timeout=8&write-around=1M",
            ],
            options: ["--log-level", "debug"] + MetricsTests.metricsOption, in: directory)
        let metrics = try await MetricsScrape(of: server.process)
        try await frozenOSD(cluster, server, metrics, directory)
        try await stoppedOSD(cluster, server, metrics, directory)
        await server.stopExpectingCleanExit()
    }

    /// Frozen: acknowledged anyway, and the flush waits until the OSD runs.
    private func frozenOSD(
        _ cluster: PrivateCluster, _ server: BuseServer, _ metrics: MetricsScrape, _ directory: TemporaryDirectory
    ) async throws {
        let (paused, resumed) = (directory.file("paused"), directory.file("resumed"))
        let client = try BackgroundNbdsh(
            Self.frozenClient, uri: server.uri("frozen"), variables: ["paused": paused, "resumed": resumed], in: directory)
        try await client.waitForReport("ready", timeout: .seconds(120))
        try await cluster.pauseOSD(in: directory)
        try touch(paused)
        try await client.waitForReport("flushing", timeout: .seconds(120))
        #expect(client.report["writes while frozen"] == Array(repeating: "ok", count: 8).joined(separator: ","))
        // buse logs (at debug) once a flush is parked behind writes in flight.
        try await waitUntil("buse says the flush waits for RADOS", timeout: .seconds(120)) {
            server.process.standardError.contains("flush waits for writes acknowledged early")
        }
        #expect(client.report["flush while frozen"] == nil, "a flush must wait for the frozen OSD: \(client.report)")
        // The 8 writes of 4 KiB are acknowledged and none is answered by RADOS.
        let outstanding = #"buse_rados_write_around_outstanding_bytes{export="frozen"}"#
        let frozen = try await metrics.checkedByPromtool(in: directory)
        #expect(MetricsScrape.value(frozen, outstanding) == 32_768, "\(frozen)")
        #expect(MetricsScrape.value(frozen, #"buse_rados_write_around_limit_bytes{export="frozen"}"#) == 1_048_576)
        try touch(resumed)
        try await cluster.resumeOSD(in: directory)
        let report: ScriptReport
        do {
            report = try await client.finish(timeout: .seconds(120))
        } catch {
            // What the OSD still holds says whose the wait is.
            let ops = await cluster.opsInFlight(in: directory)
            throw InteropError("\(error)\n\(ops)\n\(cluster.logTail())\n--- buse:\n\(server.log)")
        }
        #expect(report["flush while frozen"] == "ok", "\(report)\n\(server.log)")
        #expect(report["resumed before the flush returned"] == "True", "the flush returned while the OSD was frozen")
        #expect(report["reads after the flush"] == "True", "\(report)")
        let thawed = try await metrics.checkedByPromtool(in: directory)
        #expect(MetricsScrape.value(thawed, outstanding) == 0, "the flush waited for every early write")
        #expect(MetricsScrape.value(thawed, #"buse_rados_operation_timeouts_total{export="frozen",operation="write"}"#) == 0)
    }

    /// Stopped: acknowledged, then lost; every later flush says so.
    private func stoppedOSD(
        _ cluster: PrivateCluster, _ server: BuseServer, _ metrics: MetricsScrape, _ directory: TemporaryDirectory
    ) async throws {
        let (stopped, osdBack) = (directory.file("stopped"), directory.file("osd-back"))
        let client = try BackgroundNbdsh(
            Self.stoppedClient, uri: server.uri("lost"), variables: ["stopped": stopped, "osd_back": osdBack], in: directory)
        try await client.waitForReport("ready", timeout: .seconds(120))
        try await cluster.stopOSD(in: directory)
        try touch(stopped)
        try await client.waitForReport("flush again", timeout: .seconds(240))
        let lost = client.report
        #expect(lost["writes while stopped"] == "ok,ok,ok,ok", "\(lost)")
        #expect(lost["flush after lost writes"] == "EIO", "\(lost)\n\(server.log)")
        #expect(lost["flush again"] == "EIO", "\(lost)")
        #expect(server.process.standardError.contains("after it was acknowledged"), "the loss is logged:\n\(server.log)")
        #expect(server.process.termination == nil, "buse should stay up:\n\(server.log)")
        // A flush reports the loss only once every early write has ended: all timed out.
        let lostText = try await metrics.checkedByPromtool(in: directory)
        #expect(MetricsScrape.value(lostText, #"buse_rados_operation_timeouts_total{export="lost",operation="write"}"#) == 4)
        #expect(MetricsScrape.value(lostText, #"buse_rados_write_around_outstanding_bytes{export="lost"}"#) == 0)

        try await cluster.startOSD(in: directory)
        try touch(osdBack)
        let after = try await client.finish(timeout: .seconds(240))
        #expect(after["read after the OSD is back"] == after["expected read"], "\(after)\n\(server.log)")
        #expect(after["write after the OSD is back"] == "ok", "\(after)\n\(server.log)")
    }

    private func touch(_ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw InteropError("cannot create \(path)") }
    }
}
