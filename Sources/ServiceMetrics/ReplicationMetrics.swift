import Prometheus
public import Replication
import Synchronization

/// A replicated volume's figures, exactly those of ``ReplicationStatus``
/// (what `buse status` reads), under the same names whether they come
/// from `buse status --prometheus` or from a `--metrics` scrape: both
/// render through here.
public final class ReplicationMetrics: Sendable {
    static let peerStates: [ReplicationStatus.PeerState] = [.disconnected, .connecting, .resyncing, .inSync, .refused]
    static let gauges: [(name: String, help: String, value: @Sendable (ReplicationStatus) -> Double)] = [
        ("buse_replication_primary", "1 on the primary, 0 on the secondary.", { $0.role == .primary ? 1 : 0 }),
        (
            "buse_replication_lag_operations",
            "Writes in the primary's log not yet durable on the peer (records of its journal).",
            { Double($0.lagOperations) }
        ),
        ("buse_replication_lag_bytes", "Bytes of writes not yet durable on the peer.", { Double($0.lagBytes) }),
        ("buse_replication_dirty_bytes", "Bytes marked for resync.", { Double($0.dirtyBytes) }),
        ("buse_replication_resync_done_bytes", "Bytes copied by the running resync.", { Double($0.resyncDone) }),
        ("buse_replication_resync_total_bytes", "Bytes the running resync copies.", { Double($0.resyncTotal) }),
        ("buse_replication_consistent", "0 while this copy is being resynced.", { $0.consistent ? 1 : 0 }),
    ]

    private let prometheus: PrometheusCollectorRegistry
    private let replicated: TotalCounter
    private let degraded: TotalCounter
    private let flushesSent: TotalCounter
    private let flushesAnswered: TotalCounter
    private let generation = Mutex<(label: String, gauge: Gauge)?>(nil)

    init(_ prometheus: PrometheusCollectorRegistry) {
        self.prometheus = prometheus
        let help = "Writes acknowledged, by whether the peer had them."
        replicated = TotalCounter(
            prometheus.makeCounter(descriptor: .named("buse_replication_writes_total", help: help), labels: [("peer", "yes")]))
        degraded = TotalCounter(
            prometheus.makeCounter(descriptor: .named("buse_replication_writes_total", help: help), labels: [("peer", "no")]))
        let flushes = "FLUSH requests the primary sent its peer (client flushes, resync checkpoints), and those answered as done."
        flushesSent = TotalCounter(
            prometheus.makeCounter(
                descriptor: .named("buse_replication_peer_flushes_total", help: flushes), labels: [("result", "sent")]))
        flushesAnswered = TotalCounter(
            prometheus.makeCounter(
                descriptor: .named("buse_replication_peer_flushes_total", help: flushes), labels: [("result", "answered")]))
    }

    /// Samples `status` at every scrape of `registry`.
    public static func register(status: @escaping @Sendable () -> ReplicationStatus, in registry: MetricsRegistry) {
        let metrics = ReplicationMetrics(registry.prometheus)
        registry.addSampler { metrics.publish(status()) }
    }

    /// `buse status --prometheus`: one status as the text exposition.
    public static func exposition(_ status: ReplicationStatus) -> String {
        let registry = MetricsRegistry()
        register(status: { status }, in: registry)
        return String(decoding: registry.exposition(), as: UTF8.self)
    }

    func publish(_ status: ReplicationStatus) {
        for (name, help, value) in Self.gauges {
            prometheus.makeGauge(descriptor: .named(name, help: help), labels: []).set(to: value(status))
        }
        for state in Self.peerStates {
            prometheus.makeGauge(
                descriptor: .named("buse_replication_peer_state", help: "The peer link's state (1 for the current one)."),
                labels: [("state", state.rawValue)]
            ).set(to: state == status.peerState ? 1 : 0)
        }
        replicated.publish(status.writesReplicated)
        degraded.publish(status.writesDegraded)
        flushesSent.publish(status.peerFlushesSent ?? 0)
        flushesAnswered.publish(status.peerFlushesAnswered ?? 0)
        // A generation is a 64-bit identifier, not a quantity (a float would
        // round it): it goes in a label, and the old series leaves on a change.
        let label = String(status.generation, radix: 16)
        generation.withLock { current in
            guard current?.label != label else { return }
            if let current { prometheus.unregisterGauge(current.gauge) }
            let gauge = prometheus.makeGauge(
                descriptor: .named(
                    "buse_replication_generation_info",
                    help: "The volume's current generation (in the label), as buse status prints it."),
                labels: [("generation", label)])
            gauge.set(to: 1)
            current = (label, gauge)
        }
    }
}
