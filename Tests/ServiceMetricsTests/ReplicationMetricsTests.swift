import Foundation
import Replication
import ServiceMetrics
import Synchronization
import Testing

/// `buse status --prometheus` and a scrape render the same status alike.
@Suite struct ReplicationMetricsTests {
    /// A primary mid-resync, as its control socket would send it (the
    /// status has no public memberwise initialiser: it is made by nodes).
    static func status() throws -> ReplicationStatus {
        try JSONDecoder().decode(
            ReplicationStatus.self,
            from: Data(
                """
                {"role": "primary", "volumeID": 2748, "generation": 18369338455114121217, "history": [], "consistent": true,
                 "peer": "127.0.0.1:1", "peerState": "resyncing", "lagOperations": 12, "lagBytes": 49152,
                 "dirtyBytes": 1048576, "resyncDone": 300, "resyncTotal": 1000, "writesReplicated": 40, "writesDegraded": 2,
                 "peerFlushesSent": 9, "peerFlushesAnswered": 8}
                """.utf8))
    }

    static func sample(_ text: String, _ series: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.map { String($0.dropFirst(series.count + 1)) }
    }

    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n").sorted() }

    @Test func everyFigureOfTheStatusIsPublished() throws {
        let text = ReplicationMetrics.exposition(try Self.status())
        #expect(Self.sample(text, "buse_replication_primary") == "1.0")
        #expect(Self.sample(text, "buse_replication_lag_operations") == "12.0")
        #expect(Self.sample(text, "buse_replication_lag_bytes") == "49152.0")
        #expect(Self.sample(text, "buse_replication_dirty_bytes") == "1048576.0")
        #expect(Self.sample(text, "buse_replication_resync_done_bytes") == "300.0")
        #expect(Self.sample(text, "buse_replication_resync_total_bytes") == "1000.0")
        #expect(Self.sample(text, "buse_replication_peer_state{state=\"resyncing\"}") == "1.0")
        #expect(Self.sample(text, "buse_replication_peer_state{state=\"in-sync\"}") == "0.0")
        #expect(Self.sample(text, "buse_replication_writes_total{peer=\"yes\"}") == "40")
        #expect(Self.sample(text, "buse_replication_writes_total{peer=\"no\"}") == "2")
        #expect(Self.sample(text, "buse_replication_peer_flushes_total{result=\"sent\"}") == "9")
        #expect(Self.sample(text, "buse_replication_peer_flushes_total{result=\"answered\"}") == "8")
        #expect(Self.sample(text, "buse_replication_generation_info{generation=\"feed000000000001\"}") == "1.0")
    }

    @Test func aScrapeFollowsTheStatusAndCountersNeverGoBack() throws {
        let registry = MetricsRegistry()
        let current = Current(try Self.status())
        ReplicationMetrics.register(status: { current.value }, in: registry)
        _ = registry.exposition()
        var next = try Self.status()
        next.writesReplicated = 45
        next.generation = 7
        next.peerState = .inSync
        current.value = next
        let text = String(decoding: registry.exposition(), as: UTF8.self)
        #expect(Self.lines(text) == Self.lines(ReplicationMetrics.exposition(next)), "a scrape after a change reads as the status does")
        #expect(Self.sample(text, "buse_replication_writes_total{peer=\"yes\"}") == "45")
        #expect(!text.contains("feed000000000001"), "the old generation's series is gone")
    }
}

private final class Current: Sendable {
    private let state: Mutex<ReplicationStatus>
    init(_ value: ReplicationStatus) { state = Mutex(value) }
    var value: ReplicationStatus {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
