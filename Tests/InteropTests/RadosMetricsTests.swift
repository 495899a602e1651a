import Foundation
import TestSupport
import Testing

/// `--metrics` on RADOS exports, against the shared Ceph cluster: after a
/// scripted nbdsh session the scrape passes `promtool check metrics` and
/// counts exactly the RADOS operations the session caused, each timed.
/// (Timeouts are checked in RadosClusterTroubleTests, write-around bytes
/// outstanding while the OSD is frozen in RadosWriteAroundTests.)
@Suite struct RadosMetricsTests {

    /// Requests whose RADOS operations are known: the image's objects are
    /// 4 MiB, so the writes at 0 fall in object 0, the spanning one in
    /// objects 1 and 2 (one operation of two pieces), and nothing at 32 MiB
    /// was written (its read costs no RADOS operation).
    static let script = """
        for i in range(5): step(f"write {i}", lambda i=i: h.pwrite(b"w" * 4096, i * 4096))
        step("spanning write", lambda: h.pwrite(b"s" * 8192, (8 << 20) - 4096))
        for i in range(10): step(f"read {i}", lambda: h.pread(4096, 0))
        step("read never written", lambda: h.pread(65536, 32 << 20))
        step("trim", lambda: h.trim(4 << 20, 8 << 20))
        step("zero", lambda: h.zero(4096, 0, nbd.CMD_FLAG_NO_HOLE))
        step("flush", lambda: h.flush())
        """

    /// Writes acknowledged early, then a flush, which leaves nothing outstanding.
    static let writeAroundScript = """
        step("first write", lambda: h.pwrite(b"a" * 4096, 0))
        for i in range(8): step(f"write {i}", lambda i=i: h.pwrite(b"b" * 65536, i * 65536))
        step("flush", lambda: h.flush())
        """

    @Test func aScrapeCountsEveryRadosOperationTheClientCaused() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let plain = try await RadosTestImage(size: "64M", conf: conf, cleanup: cleanup, in: directory)
        let early = try await RadosTestImage(size: "64M", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(
            exports: ["plain=\(plain.uri())", "early=\(early.uri("write-around=1M"))", "memory=memory:16M"],
            options: MetricsTests.metricsOption, in: directory)
        let metrics = try await MetricsScrape(of: server.process)
        let before = try await metrics.checkedByPromtool(in: directory)
        #expect(Self.count(before, "plain", "write") == 0)
        #expect(!before.contains(#"export="memory",operation"#), "a memory export has no RADOS figures")

        let report = try await Nbdsh.run(Self.script, uri: server.uri("plain"), in: directory)
        #expect(report.lines.count == 20 && report.lines.allSatisfy { $0.value.hasPrefix("ok") }, "\(report)")
        let earlyReport = try await Nbdsh.run(Self.writeAroundScript, uri: server.uri("early"), in: directory)
        #expect(earlyReport.lines.count == 10 && earlyReport.lines.allSatisfy { $0.value.hasPrefix("ok") }, "\(earlyReport)")

        // Every operation was counted before its request was answered (and a
        // flush answers after the early writes' operations ended): no wait.
        let text = try await metrics.checkedByPromtool(in: directory)
        let expected: [(String, String, Double)] = [
            ("plain", "write", 6), ("plain", "map_update", 2), ("plain", "read", 10), ("plain", "trim", 1),
            ("plain", "zero", 1), ("early", "write", 9), ("early", "map_update", 1), ("early", "read", 0),
        ]
        for (export, operation, count) in expected {
            #expect(Self.count(text, export, operation) == count, "\(export) \(operation) in:\n\(text)")
            let sum = MetricsScrape.value(text, Self.series("sum", export, operation)) ?? -1
            #expect(count == 0 ? sum == 0 : sum > 0, "\(export) \(operation) latency sum \(sum)")
            let timeouts = #"buse_rados_operation_timeouts_total{export="\#(export)",operation="\#(operation)"}"#
            #expect(MetricsScrape.value(text, timeouts) == 0)
        }
        for export in ["plain", "early"] {
            for error in ["EIO", "ETIMEDOUT"] {
                #expect(MetricsScrape.value(text, #"buse_rados_operation_errors_total{export="\#(export)",error="\#(error)"}"#) == 0)
            }
            #expect(MetricsScrape.value(text, #"buse_rados_write_around_outstanding_bytes{export="\#(export)"}"#) == 0)
        }
        #expect(MetricsScrape.value(text, #"buse_rados_write_around_limit_bytes{export="early"}"#) == 1_048_576)
        #expect(MetricsScrape.value(text, #"buse_rados_write_around_limit_bytes{export="plain"}"#) == 0)

        await server.stopExpectingCleanExit()
        try await plain.remove(in: directory)
        try await early.remove(in: directory)
    }

    /// `buse replica` on a RADOS image publishes the image's figures as
    /// `serve` does, under `export="replica"`: the primary's writes reach
    /// the replica's image as RADOS writes, each counted and timed.
    @Test func aReplicaOnARadosImageCountsTheWritesItsPrimarySent() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(
            size: "\(ReplicationNode.volumeSize >> 20)M", conf: conf, cleanup: cleanup, in: directory)
        let replica = try await ReplicaProcess(
            device: image.uri(), state: directory.file("replica-state"), port: 0, options: MetricsTests.metricsOption,
            in: directory)
        let primary = try ReplicationNode("primary")
        let server = try await primary.serveAsPrimary(replicatingTo: replica.port)
        try await primary.waitForInSync()
        let metrics = try await MetricsScrape(of: replica.process)
        let before = Self.count(try await metrics.checkedByPromtool(in: directory), "replica", "write") ?? -1
        #expect(before >= 0, "the replica publishes no RADOS write figures")

        let script = """
            for i in range(8): step(f"write {i}", lambda i=i: h.pwrite(b"r" * 65536, i * 65536))
            step("flush", lambda: h.flush())
            """
        let report = try await Nbdsh.run(script, uri: server.uri("vol"), in: primary.directory)
        #expect(report.lines.count == 9 && report.lines.allSatisfy { $0.value.hasPrefix("ok") }, "\(report)")
        // Acknowledged by the primary only once the replica's image held each write.
        let text = try await metrics.checkedByPromtool(in: directory)
        #expect(Self.count(text, "replica", "write") == before + 8, "\(text)")
        #expect((MetricsScrape.value(text, Self.series("sum", "replica", "write")) ?? 0) > 0)
        #expect(MetricsScrape.value(text, #"buse_rados_operation_errors_total{export="replica",error="EIO"}"#) == 0)

        await server.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }

    static func series(_ part: String, _ export: String, _ operation: String) -> String {
        #"buse_rados_operation_duration_seconds_\#(part){export="\#(export)",operation="\#(operation)"}"#
    }

    static func count(_ text: String, _ export: String, _ operation: String) -> Double? {
        MetricsScrape.value(text, series("count", export, operation))
    }
}
