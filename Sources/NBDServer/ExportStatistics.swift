public import NBDProtocol
import Synchronization

/// What one export's requests came to, summed over its connections: the
/// figures `--metrics` publishes (requests, bytes, errors, latency).
///
/// The hot path must stay cheap, so nothing here is shared between
/// connections while they serve: each connection counts into its own
/// ``ConnectionStatistics`` (one uncontended lock per request), and the sum
/// is taken only when someone asks (a scrape). A connection that ends folds
/// its counts into the export's retired totals, so counters never go back.
public final class ExportStatistics: Sendable {
    private struct State {
        var live: [ObjectIdentifier: ConnectionStatistics] = [:]
        var retired = RequestCounts()
        var connectionsTotal: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// A connection entering transmission on this export; `inFlight` reads
    /// its requests in flight (the connection's own gate) at scrape time.
    func opened(inFlight: @escaping @Sendable () -> Int) -> ConnectionStatistics {
        let statistics = ConnectionStatistics(inFlight: inFlight)
        state.withLock { state in
            state.live[ObjectIdentifier(statistics)] = statistics
            state.connectionsTotal += 1
        }
        return statistics
    }

    /// The connection has answered its last request.
    func closed(_ statistics: ConnectionStatistics) {
        let final = statistics.counts
        state.withLock { state in
            state.live[ObjectIdentifier(statistics)] = nil
            state.retired.add(final)
        }
    }

    /// Everything counted so far, with what is in flight now.
    public func snapshot() -> Snapshot {
        let (live, retired, total) = state.withLock { ($0.live.values.map { $0 }, $0.retired, $0.connectionsTotal) }
        var counts = retired
        var inFlight = 0
        for connection in live {
            counts.add(connection.counts)
            inFlight += connection.inFlight()
        }
        return Snapshot(counts: counts, inFlight: inFlight, connectionsOpen: live.count, connectionsTotal: total)
    }

    public struct Snapshot: Sendable {
        public var counts: RequestCounts
        public var inFlight: Int
        public var connectionsOpen: Int
        public var connectionsTotal: UInt64
    }
}

/// One connection's counts; written by its request tasks, read by scrapes.
final class ConnectionStatistics: Sendable {
    private let state = Mutex(RequestCounts())
    let inFlight: @Sendable () -> Int

    init(inFlight: @escaping @Sendable () -> Int) { self.inFlight = inFlight }

    var counts: RequestCounts { state.withLock { $0 } }

    /// A request answered: `error` is nil on success; `bytes` is its payload.
    func completed(_ command: Command?, bytes: Int, error: ErrorCode?, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let components = elapsed.components
        let nanoseconds = UInt64(components.seconds) &* 1_000_000_000 &+ UInt64(components.attoseconds / 1_000_000_000)
        state.withLock { $0.record(command, bytes: bytes, error: error, nanoseconds: nanoseconds) }
    }

    /// A request refused before it reached the device (validation, shutdown).
    func refused(_ command: Command?, error: ErrorCode) {
        state.withLock { $0.record(command, bytes: 0, error: error, nanoseconds: nil) }
    }
}

/// Plain counters, fixed-size so that counting allocates nothing.
public struct RequestCounts: Sendable {
    /// Upper bounds of the latency buckets, in nanoseconds (50 µs to 10 s);
    /// a last, implicit bucket holds the rest (`+Inf`).
    public static let latencyBounds: [UInt64] = [
        50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 10_000_000_000,
    ]
    /// Commands by their wire value (0 to 7); index 8 counts unknown commands.
    public static let commandSlots = 9

    /// Requests answered, by command slot (including failed and refused ones).
    public private(set) var requests = [UInt64](repeating: 0, count: commandSlots)
    public private(set) var bytesRead: UInt64 = 0
    public private(set) var bytesWritten: UInt64 = 0
    /// Error replies by NBD error value.
    public private(set) var errors: [ErrorCode: UInt64] = [:]
    /// Per command slot: counts per latency bucket (not cumulative), then
    /// the sum of latencies in nanoseconds and how many were timed.
    public private(set) var latencyBuckets = [[UInt64]](
        repeating: [UInt64](repeating: 0, count: latencyBounds.count + 1), count: commandSlots)
    public private(set) var latencySumNanoseconds = [UInt64](repeating: 0, count: commandSlots)
    public private(set) var latencyCount = [UInt64](repeating: 0, count: commandSlots)

    public init() {}

    public static func slot(_ command: Command?) -> Int { command.map { Int($0.rawValue) } ?? commandSlots - 1 }

    mutating func record(_ command: Command?, bytes: Int, error: ErrorCode?, nanoseconds: UInt64?) {
        let slot = Self.slot(command)
        requests[slot] &+= 1
        if let error {
            errors[error, default: 0] &+= 1
        } else if command == .read {
            bytesRead &+= UInt64(bytes)
        } else if command == .write {
            bytesWritten &+= UInt64(bytes)
        }
        guard let nanoseconds else { return }
        var bucket = 0
        while bucket < Self.latencyBounds.count && nanoseconds > Self.latencyBounds[bucket] { bucket += 1 }
        latencyBuckets[slot][bucket] &+= 1
        latencySumNanoseconds[slot] &+= nanoseconds
        latencyCount[slot] &+= 1
    }

    mutating func add(_ other: RequestCounts) {
        for slot in 0..<Self.commandSlots {
            requests[slot] &+= other.requests[slot]
            latencySumNanoseconds[slot] &+= other.latencySumNanoseconds[slot]
            latencyCount[slot] &+= other.latencyCount[slot]
            for bucket in 0...Self.latencyBounds.count { latencyBuckets[slot][bucket] &+= other.latencyBuckets[slot][bucket] }
        }
        bytesRead &+= other.bytesRead
        bytesWritten &+= other.bytesWritten
        for (code, count) in other.errors { errors[code, default: 0] &+= count }
    }
}
