public import Prometheus
import Synchronization

/// The metrics of one buse process: a swift-prometheus registry, plus the
/// samplers that bring figures kept elsewhere (an export's request counts,
/// a replicated volume's status) into it just before each scrape, and the
/// families rendered as text at scrape time (histograms summed from
/// per-connection buckets, which swift-prometheus can only take one
/// observation at a time).
///
/// Scrapes are serialised: a sampler publishes counters as the difference
/// from what it published last, which must not race with itself.
public final class MetricsRegistry: Sendable {
    /// Where counters and gauges live; services (registry, snapshotter)
    /// register theirs here directly.
    public let prometheus = PrometheusCollectorRegistry()
    private let samplers = Mutex<[@Sendable () -> Void]>([])
    private let textFamilies = Mutex<[@Sendable (inout String) -> Void]>([])
    private let scrapes = Mutex(())

    public init() {}

    /// Runs `sample` before every scrape, to set the registry's metrics.
    public func addSampler(_ sample: @escaping @Sendable () -> Void) {
        samplers.withLock { $0.append(sample) }
    }

    /// Appends whole metric families (HELP, TYPE and samples) at every scrape.
    public func addTextFamilies(_ render: @escaping @Sendable (inout String) -> Void) {
        textFamilies.withLock { $0.append(render) }
    }

    /// The Prometheus text exposition (format 0.0.4) of everything now.
    public func exposition() -> [UInt8] {
        scrapes.withLock { _ in
            for sample in samplers.withLock({ $0 }) { sample() }
            var text = ""
            for render in textFamilies.withLock({ $0 }) { render(&text) }
            var bytes = prometheus.emitToBuffer()
            bytes.append(contentsOf: text.utf8)
            return bytes
        }
    }
}
