import Foundation
import Testing

/// The cluster goes away under buse: on a private one-node cluster (its own
/// directory and mon port, so the shared cluster is untouched), an image is
/// served with `timeout=5` while a client keeps writing; the OSD is stopped.
/// Requests then fail with EIO once the 5 s timeout passes, buse stays up,
/// and once the OSD is back the same connection and a new one work again.
@Suite struct RadosClusterTroubleTests {
    /// The client: writes until one fails (the OSD is stopped meanwhile),
    /// then a read of written data must fail too; then it waits for the
    /// test to bring the OSD back and tries again, on the same connection
    /// and on a new one. Times are reported in seconds.
    static let client = """
        import os, time
        block = bytes(range(256)) * 256
        step("write before", lambda: h.pwrite(block, 0))
        writes = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = time.monotonic()
            result = outcome(lambda: h.pwrite(block, (writes % 64) * 65536))
            if result != "ok":
                report("failed write", result)
                report("failed write seconds", round(time.monotonic() - started, 1))
                break
            writes += 1
            if writes == 50:
                report("writing", "yes")
        report("writes", writes)
        started = time.monotonic()
        step("read while down", lambda: h.pread(65536, 0))
        report("read while down seconds", round(time.monotonic() - started, 1))
        report("waiting", "yes")
        deadline = time.monotonic() + 240
        while not os.path.exists(osd_back) and time.monotonic() < deadline:
            time.sleep(0.05)
        step("write after on the same connection", lambda: h.pwrite(block[::-1], 1 << 20))
        expected = outcome(lambda: block[::-1])
        report("read after on the same connection", outcome(lambda: h.pread(65536, 1 << 20)) == expected)
        other = nbd.NBD()
        other.connect_uri(uri)
        report("read on a new connection", outcome(lambda: other.pread(65536, 0)) == outcome(lambda: block))
        step("write on a new connection", lambda: other.pwrite(block, 2 << 20))
        """

    @Test func aStoppedOsdFailsRequestsWithEIOAfterTheTimeoutAndBuseCarriesOn() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let cluster = try await PrivateCluster(in: directory, cleanup: cleanup)
        try await runChecked(
            try Tool.buse(), ["image", "create", "buse/trouble", "--size", "64M", "--conf", cluster.conf], in: directory
        )
        let server = try await BuseServer(
            exports: ["disk=rados:buse/trouble?conf=\(cluster.conf)&timeout=5"], options: MetricsTests.metricsOption,
            in: directory)
        let metrics = try await MetricsScrape(of: server.process)
        let osdBack = directory.file("osd-back")
        let client = try BackgroundNbdsh(
            Self.client, uri: server.uri("disk"), variables: ["osd_back": osdBack, "uri": server.uri("disk")],
            in: directory)
        try await client.waitForReport("writing", timeout: .seconds(60))

        try await cluster.stopOSD(in: directory)
        try await client.waitForReport("waiting", timeout: .seconds(90))
        let down = client.report
        #expect(down["write before"] == "ok", "\(down)")
        #expect(down["failed write"] == "EIO", "a write with the OSD down should fail with EIO: \(down)")
        #expect(down["read while down"] == "EIO", "a read with the OSD down should fail with EIO: \(down)")
        let readSeconds = Double(down["read while down seconds"] ?? "") ?? 0
        // The OSD stays down until after this, so the EIO above already shows
        // the timeout fired; only its lower bound is a fact about buse.
        #expect(readSeconds >= 4.5, "the read should fail after the 5 s timeout, not before: \(down)")
        #expect(server.process.termination == nil, "buse should stay up while the OSD is down:\n\(server.log)")
        // The EIOs were RADOS timeouts, and the metrics say so.
        let scraped = try await metrics.checkedByPromtool(in: directory)
        let timeouts = #"buse_rados_operation_timeouts_total{export="disk",operation="#
        #expect(MetricsScrape.value(scraped, timeouts + #""write"}"#) == 1, "\(scraped)")
        #expect(MetricsScrape.value(scraped, timeouts + #""read"}"#) == 1, "\(scraped)")
        #expect(MetricsScrape.value(scraped, #"buse_rados_operation_errors_total{export="disk",error="ETIMEDOUT"}"#) == 2)
        let slowest = #"buse_rados_operation_duration_seconds_bucket{export="disk",operation="read",le="2.5"}"#
        let reads = #"buse_rados_operation_duration_seconds_count{export="disk",operation="read"}"#
        #expect(MetricsScrape.value(scraped, reads) == 1, "the one read timed out")
        #expect(MetricsScrape.value(scraped, slowest) == 0, "a read that timed out after 5 s sits above 2.5 s")

        try await cluster.startOSD(in: directory)
        guard FileManager.default.createFile(atPath: osdBack, contents: nil) else {
            throw InteropError("cannot create \(osdBack)")
        }
        let after = try await client.finish(timeout: .seconds(120))
        #expect(after["write after on the same connection"] == "ok", "\(after)\n\(server.log)")
        #expect(after["read after on the same connection"] == "True", "\(after)\n\(server.log)")
        #expect(after["read on a new connection"] == "True", "\(after)\n\(server.log)")
        #expect(after["write on a new connection"] == "ok", "\(after)\n\(server.log)")
        await server.stopExpectingCleanExit()
        // The cluster, image and all, goes with the cleanup.
    }
}
