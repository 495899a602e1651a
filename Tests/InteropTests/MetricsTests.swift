import Foundation
import TestSupport
import Testing

/// `--metrics` on every buse service, checked with the real tools: the
/// exposition passes `promtool check metrics`, the figures are exactly what
/// the clients did, and `buse status --prometheus` agrees with the endpoint.
@Suite struct MetricsTests {
    static let metricsOption = ["--metrics", "127.0.0.1:0"]

    /// Requests of known outcome through nbdsh, then the counters read back
    /// exactly: per command, bytes, errors by NBD error, latency counts.
    @Test func nbdFiguresAreExactlyWhatTheClientDid() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:64M"], options: Self.metricsOption, in: directory)
        let metrics = try await MetricsScrape(of: server.process)
        let before = try await metrics.checkedByPromtool(in: directory)
        #expect(MetricsScrape.value(before, #"buse_nbd_requests_total{export="disk",command="read"}"#) == 0)
        let script = """
            h.set_strict_mode(0)
            size = h.get_size()
            for i in range(3): step(f"bad read {i}", lambda: h.pread(4096, size - 512))
            for i in range(2): step(f"bad write {i}", lambda: h.pwrite(bytes(4096), size))
            for i in range(5): step(f"write {i}", lambda: h.pwrite(b"m" * 4096, i * 4096))
            for i in range(10): step(f"read {i}", lambda: h.pread(4096, 0))
            step("flush", lambda: h.flush())
            """
        let report = try await Nbdsh.run(script, uri: server.uri("disk"), in: directory)
        #expect(report["bad read 0"] == "EINVAL" && report["bad write 0"] == "ENOSPC" && report["flush"] == "ok")
        // The connection's end is seen by the server after nbdsh exits: wait for it.
        var text = ""
        try await waitUntilAsync("the server has seen nbdsh disconnect") {
            text = try await metrics.checkedByPromtool(in: directory)
            return MetricsScrape.value(text, #"buse_nbd_connections{export="disk"}"#) == 0
                && MetricsScrape.value(text, #"buse_nbd_connections_total{export="disk"}"#) == 1
        }
        let expected: [(String, Double)] = [
            (#"buse_nbd_requests_total{export="disk",command="read"}"#, 13),
            (#"buse_nbd_requests_total{export="disk",command="write"}"#, 7),
            (#"buse_nbd_requests_total{export="disk",command="flush"}"#, 1),
            (#"buse_nbd_read_bytes_total{export="disk"}"#, 10 * 4096),
            (#"buse_nbd_written_bytes_total{export="disk"}"#, 5 * 4096),
            (#"buse_nbd_errors_total{export="disk",error="EINVAL"}"#, 3),
            (#"buse_nbd_errors_total{export="disk",error="ENOSPC"}"#, 2),
            (#"buse_nbd_errors_total{export="disk",error="EIO"}"#, 0),
            (#"buse_nbd_requests_in_flight{export="disk"}"#, 0),
            // Refused requests never reach the device, so they are not timed.
            (#"buse_nbd_request_duration_seconds_count{export="disk",command="read"}"#, 10),
            (#"buse_nbd_request_duration_seconds_bucket{export="disk",command="write",le="+Inf"}"#, 5),
        ]
        for (series, value) in expected {
            #expect(MetricsScrape.value(text, series) == value, "\(series)")
        }
        await server.stopExpectingCleanExit()
    }

    /// Garbage, oversized heads and wrong methods on the real binary's
    /// endpoint: refused with a status, and the next scrape is served.
    @Test func badInputOnTheEndpointIsRefusedAndServingGoesOn() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:16M"], options: Self.metricsOption, in: directory)
        let metrics = try await MetricsScrape(of: server.process)
        let wire = HTTPWire(port: metrics.port)
        let noise = (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 7 | 0x80) } + Array("\r\n\r\n".utf8)
        let garbage = try await runOnThread { try wire.send(noise, []) }
        #expect(garbage?.status == 400)
        let oversized = try await runOnThread {
            try wire.exchange("GET", "/metrics", headers: [("X-Filler", String(repeating: "b", count: 32 << 10))])
        }
        #expect(oversized.status == 431)
        let put = try await runOnThread { try wire.exchange("PUT", "/metrics", body: Array("x".utf8)) }
        #expect(put.status == 405)
        try await metrics.checkedByPromtool(in: directory)
        await server.stopExpectingCleanExit()
        #expect(server.process.standardError.contains("metrics: answered"), "refusals are logged")
    }

    /// A replicated pair: both ends' endpoints pass promtool, and the
    /// primary's and the replica's replication figures are those `buse
    /// status --prometheus` prints, name for name and value for value.
    @Test func replicationFiguresAgreeWithBuseStatus() async throws {
        let primary = try ReplicationNode("primary")
        let secondary = try ReplicationNode("secondary")
        let replica = try await secondary.serveAsReplica(options: Self.metricsOption)
        let server = try await primary.serveAsPrimary(replicatingTo: replica.port, options: Self.metricsOption)
        try await primary.waitForInSync()
        let script = """
            for i in range(64): h.pwrite(b"r" * 65536, i * 65536)
            h.flush()
            """
        _ = try await Nbdsh.run(script, uri: server.uri("vol"), in: primary.directory)
        for (node, process) in [(primary, server.process), (secondary, replica.process)] {
            let metrics = try await MetricsScrape(of: process)
            // Figures move while the pair settles: wait until a scrape and a
            // status taken one after the other agree (bounded).
            var last = ""
            try await waitUntilAsync("\(node.name)'s scrape agrees with buse status --prometheus") {
                let scraped = try await metrics.checkedByPromtool(in: node.directory)
                let status = try await node.buse(["status", "--state", node.statePath, "--prometheus"])
                guard status.succeeded else { throw InteropError("buse status --prometheus failed:\n\(status)") }
                try await MetricsScrape.promtoolCheck(status.standardOutput, in: node.directory)
                let fromScrape = MetricsScrape.lines(scraped, prefix: "buse_replication_")
                let fromStatus = MetricsScrape.lines(status.standardOutput, prefix: "buse_replication_")
                last = "scrape:\n\(fromScrape.joined(separator: "\n"))\nstatus:\n\(fromStatus.joined(separator: "\n"))"
                return fromScrape == fromStatus && !fromScrape.isEmpty
            }
            let scraped = try await metrics.text(in: node.directory)
            #expect(MetricsScrape.value(scraped, #"buse_replication_peer_state{state="in-sync"}"#) == 1, "\(last)")
        }
        let scraped = try await MetricsScrape(of: server.process).text(in: primary.directory)
        #expect((MetricsScrape.value(scraped, #"buse_replication_writes_total{peer="yes"}"#) ?? 0) >= 64)
        // The resync's checkpoints and the script's flush each asked the peer to flush.
        let flushesAnswered = MetricsScrape.value(scraped, #"buse_replication_peer_flushes_total{result="answered"}"#) ?? 0
        #expect(flushesAnswered >= 1, "\(scraped)")
        #expect(MetricsScrape.value(scraped, #"buse_replication_peer_flushes_total{result="sent"}"#) ?? 0 >= flushesAnswered)
        #expect(MetricsScrape.value(scraped, #"buse_nbd_written_bytes_total{export="vol"}"#) == Double(64 * 65_536))
        await server.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// The registry's and the snapshotter's endpoints pass promtool; the
    /// registry counts a real push's requests, bytes and upload session.
    @Test func registryAndSnapshotterEndpointsPassPromtool() async throws {
        let directory = try TemporaryDirectory()
        let registry = try await RegistryProcess(in: directory, options: Self.metricsOption)
        let registryMetrics = try await MetricsScrape(of: registry.process)
        try await registryMetrics.checkedByPromtool(in: directory)
        let blob = directory.file("blob")
        try Data(repeating: 0x42, count: 100_000).write(to: URL(fileURLWithPath: blob))
        let digest = "sha256:" + (try await DiskImage.sha256(blob, in: directory))
        try await runChecked("curl", ["-sS", "--fail", "http://\(registry.address)/v2/"], in: directory)
        try await runChecked(
            "curl",
            [
                "-sS", "--fail", "-X", "POST", "--data-binary", "@\(blob)", "-H", "Content-Type: application/octet-stream",
                "http://\(registry.address)/v2/metrics/test/blobs/uploads/?digest=\(digest)",
            ],
            in: directory)
        try await runChecked(
            "curl", ["-sS", "--fail", "-o", "/dev/null", "http://\(registry.address)/v2/metrics/test/blobs/\(digest)"], in: directory)
        var text = ""
        try await waitUntilAsync("the registry has counted the blob GET's bytes") {
            text = try await registryMetrics.checkedByPromtool(in: directory)
            return (MetricsScrape.value(text, "buse_registry_sent_bytes_total") ?? 0) >= 100_000
        }
        #expect(MetricsScrape.value(text, #"buse_registry_requests_total{route="base",status="200"}"#) == 1)
        #expect(MetricsScrape.value(text, #"buse_registry_requests_total{route="upload_start",status="201"}"#) == 1)
        #expect(MetricsScrape.value(text, #"buse_registry_requests_total{route="blob_get",status="200"}"#) == 1)
        #expect(MetricsScrape.value(text, "buse_registry_received_bytes_total") == 100_000)
        #expect(registry.process.termination == nil)
        _ = await registry.stop()

        // The same root served with online collection and no grace: the blob,
        // which no manifest references, goes, and the run and its bytes are counted.
        let collecting = try await RegistryProcess(
            in: directory, root: registry.root, options: Self.metricsOption + ["--gc-interval", "1s", "--gc-grace", "0s"])
        let collectingMetrics = try await MetricsScrape(of: collecting.process)
        try await waitUntilAsync("a collection has freed the unreferenced blob") {
            text = try await collectingMetrics.checkedByPromtool(in: directory)
            return (MetricsScrape.value(text, "buse_registry_gc_freed_bytes_total") ?? 0) >= 100_000
        }
        #expect((MetricsScrape.value(text, #"buse_registry_gc_runs_total{result="done"}"#) ?? 0) >= 1, "\(text)")
        #expect(MetricsScrape.value(text, "buse_registry_gc_deleted_blobs_total") == 1, "\(text)")
        #expect(MetricsScrape.value(text, #"buse_registry_gc_runs_total{result="failed"}"#) == 0, "\(text)")
        _ = await collecting.stop()

        let snapshotter = try ChildProcess(
            try Tool.buse(),
            ["snapshotter", "serve", "--root", directory.file("snapshots"), "--socket", directory.file("snapshotter.sock")]
                + Self.metricsOption,
            outputPrefix: directory.unique("snapshotter"), currentDirectory: directory.path)
        let snapshotterMetrics = try await MetricsScrape(of: snapshotter)
        let snapshotterText = try await snapshotterMetrics.checkedByPromtool(in: directory)
        #expect(snapshotterText.contains(#"buse_snapshotter_snapshots_created_total{kind="committed"} 0"#))
        snapshotter.send(SIGTERM)
        _ = await snapshotter.waitForTermination(timeout: .seconds(60))
    }
}

/// ``waitUntil`` for a condition that must itself await (a scrape, a command).
func waitUntilAsync(_ what: String, timeout: Duration = .seconds(120), _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return }
        guard clock.now < deadline else { throw InteropError("timed out after \(timeout) waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(100))
    }
}
