public import BlockDevices
import DeviceLayers
public import NBDServer
import Prometheus
public import RadosDevice

/// The RADOS figures of every export whose device is a RADOS image, read
/// from the device's own counts (``RadosStatistics``) and write-around
/// ledger at scrape time: nothing is published on the I/O path.
public enum RadosMetrics {
    /// One export's RADOS image, as the metrics see it.
    public struct Source: Sendable {
        public var export: String
        public var statistics: RadosStatistics
        /// Write-around bytes outstanding and their limit, now.
        public var writeAround: @Sendable () -> (outstanding: Int, limit: Int)

        public init(
            export: String, statistics: RadosStatistics, writeAround: @escaping @Sendable () -> (outstanding: Int, limit: Int)
        ) {
            self.export = export
            self.statistics = statistics
            self.writeAround = writeAround
        }
    }

    /// Errors shown even at zero, so that dashboards and alerts see a rate of 0 rather than no series.
    static let errorsAlwaysShown = ["EIO", "ETIMEDOUT"]

    /// Publishes the RADOS figures of those of `exports` served from a RADOS image.
    public static func register(_ exports: [Export], in registry: MetricsRegistry) {
        register(exports.compactMap { source(export: $0.name, device: $0.device) }, in: registry)
    }

    /// The label a replica's device goes by: `buse replica` serves no export,
    /// and its one device is the volume's copy.
    public static let replicaLabel = "replica"

    /// Publishes the RADOS figures of a replica's device, if it is a RADOS
    /// image, under `export="replica"`.
    public static func register(replicaDevice device: any BlockDevice, in registry: MetricsRegistry) {
        register(source(export: replicaLabel, device: device).map { [$0] } ?? [], in: registry)
    }

    static func source(export: String, device: any BlockDevice) -> Source? {
        radosDevice(below: device).map { rados in
            Source(export: export, statistics: rados.statistics) {
                (rados.writeAroundOutstandingBytes, rados.writeAroundLimitBytes)
            }
        }
    }

    /// The RADOS image under a stack of layers (emulation, counting, replication, offset), if there is one.
    static func radosDevice(below device: any BlockDevice) -> RadosBlockDevice? {
        var current = device
        while true {
            if let rados = current as? RadosBlockDevice { return rados }
            guard let layer = current as? any DeviceLayer else { return nil }
            current = layer.lower
        }
    }

    public static func register(_ sources: [Source], in registry: MetricsRegistry) {
        guard !sources.isEmpty else { return }
        let prometheus = registry.prometheus
        let counter = CounterTable(prometheus).counter
        registry.addSampler {
            for source in sources {
                let snapshot = source.statistics.snapshot()
                let exportLabel = ("export", source.export)
                for operation in RadosOperation.allCases {
                    counter(
                        "buse_rados_operation_timeouts_total",
                        "RADOS operations that failed with ETIMEDOUT: no answer within the URI's timeout= (rados_osd_op_timeout).",
                        [exportLabel, ("operation", operation.label)]
                    ).publish(snapshot.operations[operation]?.timeouts ?? 0)
                }
                for (name, count) in snapshot.errors.sorted(by: { $0.key < $1.key })
                where count > 0 || errorsAlwaysShown.contains(name) {
                    counter(
                        "buse_rados_operation_errors_total", "RADOS operations that failed, by errno (timeouts included).",
                        [exportLabel, ("error", name)]
                    ).publish(count)
                }
                let (outstanding, limit) = source.writeAround()
                prometheus.makeGauge(
                    descriptor: .named(
                        "buse_rados_write_around_outstanding_bytes",
                        help: "Bytes of writes acknowledged early (write-around) that RADOS has not answered yet."),
                    labels: [exportLabel]
                ).set(Int64(outstanding))
                prometheus.makeGauge(
                    descriptor: .named(
                        "buse_rados_write_around_limit_bytes",
                        help: "The most write-around may have outstanding (the URI's write-around=; 0 when off)."),
                    labels: [exportLabel]
                ).set(Int64(limit))
            }
        }
        registry.addTextFamilies { text in
            let name = "buse_rados_operation_duration_seconds"
            text +=
                "# HELP \(name) Time from submitting the RADOS requests one device request issues together (one per "
                + "object it spans) to librados' last completion, failures included, by operation (a first write to an "
                + "object issues a map_update before its write).\n"
            text += "# TYPE \(name) histogram\n"
            for source in sources {
                let snapshot = source.statistics.snapshot()
                for operation in RadosOperation.allCases {
                    guard let counts = snapshot.operations[operation] else { continue }
                    histogram(&text, name: name, labels: [("export", source.export), ("operation", operation.label)], counts)
                }
            }
        }
    }

    /// One histogram series: cumulative buckets, `+Inf`, sum and count.
    static func histogram(
        _ text: inout String, name: String, labels: [(String, String)], _ counts: RadosStatistics.OperationCounts
    ) {
        var cumulative: UInt64 = 0
        for (index, bound) in RadosStatistics.latencyBounds.enumerated() {
            cumulative += counts.buckets[index]
            let le = PrometheusText.number(Double(bound) / 1e9)
            text += "\(name)_bucket\(PrometheusText.labels(labels + [("le", le)])) \(cumulative)\n"
        }
        let count = counts.count
        text += "\(name)_bucket\(PrometheusText.labels(labels + [("le", "+Inf")])) \(count)\n"
        text += "\(name)_sum\(PrometheusText.labels(labels)) \(Double(counts.sumNanoseconds) / 1e9)\n"
        text += "\(name)_count\(PrometheusText.labels(labels)) \(count)\n"
    }
}
