public import Prometheus
import Synchronization

/// A Prometheus counter that follows a running total kept elsewhere (an
/// export's request count, a volume's replicated writes): each sample adds
/// the difference since the last, so the counter never goes back even if
/// the source does (it cannot here: sources only grow).
public final class TotalCounter: Sendable {
    private let counter: Counter
    private let published = Mutex<UInt64>(0)

    public init(_ counter: Counter) { self.counter = counter }

    public func publish(_ total: UInt64) {
        let delta = published.withLock { published -> UInt64 in
            guard total > published else { return 0 }
            defer { published = total }
            return total - published
        }
        if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
    }
}
