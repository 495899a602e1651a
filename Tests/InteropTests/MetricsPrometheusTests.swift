import Foundation
import TestSupport
import Testing

/// A real Prometheus server scrapes a replicated buse and a RADOS export
/// (on the shared Ceph cluster) under fio load, a registry and a
/// snapshotter; its query API shows the load's rates, and every query of
/// the example Grafana dashboard returns data.
@Suite struct MetricsPrometheusTests {
    static let dashboard = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/metrics/grafana-dashboard.json")

    /// Every `expr` of every panel, with its panel's title.
    static func dashboardQueries() throws -> [(panel: String, expression: String)] {
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: dashboard)) as? [String: Any]
        let panels = document?["panels"] as? [[String: Any]] ?? []
        return panels.flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { target in
                (target["expr"] as? String).map { (panel["title"] as? String ?? "?", $0) }
            }
        }
    }

    @Test func prometheusSeesTheLoadAndEveryDashboardPanelHasData() async throws {
        let queries = try Self.dashboardQueries()
        #expect(queries.count >= 17, "the dashboard's panels were read")
        let options = ["--metrics", "127.0.0.1:0"]
        let primary = try ReplicationNode("primary")
        let secondary = try ReplicationNode("secondary")
        let replica = try await secondary.serveAsReplica(options: options)
        let server = try await primary.serveAsPrimary(replicatingTo: replica.port, options: options)
        let directory = primary.directory
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let radosDirectory = try TemporaryDirectory()
        let image = try await RadosTestImage(size: "64M", conf: try SharedCluster.conf(), cleanup: cleanup, in: radosDirectory)
        // With write-around, so that its limit has a series to show.
        let radosServer = try await BuseServer(
            exports: ["rados=\(image.uri("write-around=1M"))"], options: options, in: radosDirectory)
        let registry = try await RegistryProcess(in: directory, options: options)
        let snapshotter = try ChildProcess(
            try Tool.buse(),
            ["snapshotter", "serve", "--root", directory.file("snapshots"), "--socket", directory.file("snapshotter.sock")] + options,
            outputPrefix: directory.unique("snapshotter"), currentDirectory: directory.path)
        var targets: [String] = []
        for process in [server.process, replica.process, radosServer.process, registry.process, snapshotter] {
            targets.append(try await MetricsScrape(of: process).target)
        }
        try await primary.waitForInSync()
        let prometheus = try await PrometheusServer(scraping: targets, in: directory)
        // 4K random reads and writes until the test ends it: 16 in flight on
        // the replicated export, and a trickle on the RADOS one (the OSD
        // shares the machine).
        let job = directory.file("load.fio")
        try """
        [load]
        ioengine=nbd
        uri=\(server.uri("vol"))
        rw=randrw
        bs=4k
        iodepth=16
        size=32m
        time_based=1
        runtime=3600

        [rados]
        ioengine=nbd
        uri=\(radosServer.uri("rados"))
        rw=randrw
        bs=4k
        iodepth=1
        rate_iops=50
        size=16m
        time_based=1
        runtime=3600
        """.write(toFile: job, atomically: true, encoding: .utf8)
        let fio = try ChildProcess(try Tool.path("fio"), [job], outputPrefix: directory.unique("fio"), currentDirectory: directory.path)
        defer { fio.send(SIGKILL) }
        for address in [registry.address] {
            try await runChecked("curl", ["-sS", "--fail", "http://\(address)/v2/"], in: directory)
        }

        for command in ["read", "write"] {
            let rates = try await prometheus.waitForQuery(
                #"rate(buse_nbd_requests_total{export="vol",command="\#(command)"}[30s])"#
            ) { result in result.contains { $0.value > 0 } }
            #expect(rates.contains { $0.value > 0 }, "\(command): \(rates)")
        }
        try await prometheus.waitForQuery(#"rate(buse_nbd_written_bytes_total{export="vol"}[30s]) > 0"#)
        try await prometheus.waitForQuery(#"rate(buse_replication_writes_total{peer="yes"}[30s]) > 0"#)
        for (panel, expression) in queries {
            do {
                try await prometheus.waitForQuery(expression)
            } catch {
                // What the targets' scrapes looked like then (a failed scrape empties its series).
                let up = (try? await prometheus.query("up")) ?? []
                let durations = (try? await prometheus.query("scrape_duration_seconds")) ?? []
                Issue.record("panel \"\(panel)\": \(error)\nup: \(up)\nscrape durations: \(durations)")
            }
        }
        #expect(fio.termination == nil, "fio ran throughout:\n\(fio.standardErrorTail())")
        fio.send(SIGKILL)
        _ = await fio.waitForTermination(timeout: .seconds(60))
        await prometheus.stop()
        snapshotter.send(SIGTERM)
        _ = await snapshotter.waitForTermination(timeout: .seconds(60))
        _ = await registry.stop()
        await server.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
        await radosServer.stopExpectingCleanExit()
        try await image.remove(in: radosDirectory)
    }
}
