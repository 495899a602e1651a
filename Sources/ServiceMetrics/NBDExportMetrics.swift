import NBDProtocol
public import NBDServer
import Prometheus
import Synchronization

/// The NBD server's figures, per export, taken from the exports' own
/// counts (``ExportStatistics``) at scrape time: nothing is published on
/// the request path.
public enum NBDExportMetrics {
    /// Commands counted even before the first one arrives, so dashboards
    /// see a zero rate rather than no series.
    static let alwaysShown: [Command] = [.read, .write, .flush, .trim, .writeZeroes, .blockStatus, .cache]

    /// The label value of a command slot of ``RequestCounts``.
    static func commandLabel(_ slot: Int) -> String {
        switch Command(rawValue: UInt16(slot)) {
        case .read: "read"
        case .write: "write"
        case .disconnect: "disc"
        case .flush: "flush"
        case .trim: "trim"
        case .cache: "cache"
        case .writeZeroes: "write_zeroes"
        case .blockStatus: "block_status"
        case nil: "unknown"
        }
    }

    /// Publishes `exports` (and `server`'s connection refusals, when given) in `registry`.
    public static func register(_ exports: [Export], server: Server?, in registry: MetricsRegistry) {
        let prometheus = registry.prometheus
        let counters = CounterTable(prometheus)
        let counter = counters.counter
        registry.addSampler {
            for export in exports {
                let snapshot = export.statistics.snapshot()
                let counts = snapshot.counts
                let exportLabel = ("export", export.name)
                for slot in 0..<RequestCounts.commandSlots
                where counts.requests[slot] > 0 || alwaysShown.contains(where: { Int($0.rawValue) == slot }) {
                    counter(
                        "buse_nbd_requests_total", "NBD requests answered, by command (failed and refused ones included).",
                        [exportLabel, ("command", commandLabel(slot))]
                    ).publish(counts.requests[slot])
                }
                counter("buse_nbd_read_bytes_total", "Bytes READ requests returned.", [exportLabel]).publish(counts.bytesRead)
                counter("buse_nbd_written_bytes_total", "Bytes WRITE requests wrote.", [exportLabel]).publish(counts.bytesWritten)
                for code in [ErrorCode.io] + counts.errors.keys.filter({ $0 != .io }) {
                    counter(
                        "buse_nbd_errors_total", "NBD error replies, by NBD error.", [exportLabel, ("error", code.description)]
                    ).publish(counts.errors[code, default: 0])
                }
                counter("buse_nbd_connections_total", "Connections that reached transmission on the export.", [exportLabel])
                    .publish(snapshot.connectionsTotal)
                prometheus.makeGauge(
                    descriptor: .named("buse_nbd_requests_in_flight", help: "Requests being served now."), labels: [exportLabel]
                )
                .set(Int64(snapshot.inFlight))
                prometheus.makeGauge(
                    descriptor: .named("buse_nbd_connections", help: "Connections open on the export."), labels: [exportLabel]
                )
                .set(Int64(snapshot.connectionsOpen))
            }
            if let server {
                counter("buse_nbd_connections_refused_total", "Connections closed at once: over --max-connections.", [])
                    .publish(server.connectionsRefused)
                counter("buse_nbd_handshakes_timed_out_total", "Clients closed for not negotiating within --handshake-timeout.", [])
                    .publish(server.handshakesTimedOut)
            }
        }
        registry.addTextFamilies { text in
            text += "# HELP buse_nbd_request_duration_seconds Time from a request's dispatch to its reply, by command.\n"
            text += "# TYPE buse_nbd_request_duration_seconds histogram\n"
            for export in exports {
                let counts = export.statistics.snapshot().counts
                for slot in 0..<RequestCounts.commandSlots
                where counts.latencyCount[slot] > 0 || [Command.read, .write, .flush].contains(where: { Int($0.rawValue) == slot }) {
                    histogram(
                        &text, name: "buse_nbd_request_duration_seconds",
                        labels: [("export", export.name), ("command", commandLabel(slot))],
                        buckets: counts.latencyBuckets[slot], sumNanoseconds: counts.latencySumNanoseconds[slot],
                        count: counts.latencyCount[slot])
                }
            }
        }
    }

    /// One histogram series: cumulative buckets, `+Inf`, sum and count.
    static func histogram(
        _ text: inout String, name: String, labels: [(String, String)], buckets: [UInt64], sumNanoseconds: UInt64,
        count: UInt64
    ) {
        var cumulative: UInt64 = 0
        for (index, bound) in RequestCounts.latencyBounds.enumerated() {
            cumulative += buckets[index]
            let le = PrometheusText.number(Double(bound) / 1e9)
            text += "\(name)_bucket\(PrometheusText.labels(labels + [("le", le)])) \(cumulative)\n"
        }
        text += "\(name)_bucket\(PrometheusText.labels(labels + [("le", "+Inf")])) \(count)\n"
        text += "\(name)_sum\(PrometheusText.labels(labels)) \(Double(sumNanoseconds) / 1e9)\n"
        text += "\(name)_count\(PrometheusText.labels(labels)) \(count)\n"
    }
}

/// The ``TotalCounter`` of each series a sampler publishes, made on first use.
final class CounterTable: Sendable {
    private let prometheus: PrometheusCollectorRegistry
    private let table = Mutex<[String: TotalCounter]>([:])

    init(_ prometheus: PrometheusCollectorRegistry) { self.prometheus = prometheus }

    @Sendable func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> TotalCounter {
        let key = name + PrometheusText.labels(labels)
        return table.withLock { table in
            if let existing = table[key] { return existing }
            let made = TotalCounter(prometheus.makeCounter(descriptor: .named(name, help: help), labels: labels))
            table[key] = made
            return made
        }
    }
}
