import Glibc
import Synchronization

/// The kinds of RADOS requests a ``RadosBlockDevice`` makes, each one of
/// its operations as it reaches the cluster: all the object requests of
/// one device call issued together (a read or write spanning objects is
/// one operation of several librados completions).
public enum RadosOperation: Int, CaseIterable, Sendable {
    case read
    case write
    /// Recording in the object map that objects about to be written for
    /// the first time may exist (before their data is written).
    case mapUpdate
    /// Removing or truncating objects (NBD TRIM, and WRITE_ZEROES that may trim).
    case trim
    /// Zeroing parts of objects that must stay allocated.
    case zero

    /// The `operation` label value.
    public var label: String {
        switch self {
        case .read: "read"
        case .write: "write"
        case .mapUpdate: "map_update"
        case .trim: "trim"
        case .zero: "zero"
        }
    }
}

/// What a device's RADOS operations came to: latency per operation kind
/// (from submission until librados' last completion, failures included),
/// timeouts, and errors by errno, for `--metrics`.
///
/// Counted on librados' callback threads on every completion, so it must
/// cost next to nothing: a fixed set of relaxed atomic counters made once,
/// one monotonic clock read at each end, no lock and no allocation; the
/// figures are read (and summed into counts) only when scraped.
public final class RadosStatistics: Sendable {
    /// Upper bounds of the latency buckets in nanoseconds, 100 µs to 10 s
    /// (a memstore OSD on loopback answers in a few hundred µs; a cluster
    /// with a slow or recovering OSD in seconds); the last, implicit bucket
    /// holds the rest (`+Inf`).
    public static let latencyBounds: [UInt64] = [
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
        250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]

    /// The errnos counted by name; any other goes under `other`. Ceph's
    /// EBLOCKLISTED (this client was blocklisted) is ESHUTDOWN.
    public static let errorNames: [(code: Int32, name: String)] = [
        (ETIMEDOUT, "ETIMEDOUT"), (EIO, "EIO"), (ENOSPC, "ENOSPC"), (EDQUOT, "EDQUOT"), (EROFS, "EROFS"),
        (EACCES, "EACCES"), (EPERM, "EPERM"), (ESHUTDOWN, "EBLOCKLISTED"), (ENOENT, "ENOENT"), (EINVAL, "EINVAL"),
        (ENOTCONN, "ENOTCONN"), (ECANCELED, "ECANCELED"), (EFBIG, "EFBIG"),
    ]
    public static let otherErrorName = "other"

    static let bucketCount = latencyBounds.count + 1
    /// Per operation: its buckets, then the latency sum, then timeouts.
    static let operationStride = bucketCount + 2
    static let errorBase = RadosOperation.allCases.count * operationStride

    private let cells: [AtomicCounter]

    public init() {
        cells = (0..<(Self.errorBase + Self.errorNames.count + 1)).map { _ in AtomicCounter() }
    }

    /// Now, in nanoseconds of CLOCK_MONOTONIC (a vDSO read, no system call).
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// The bucket of a latency: the first whose bound it does not exceed.
    static func bucket(_ nanoseconds: UInt64) -> Int {
        var bucket = 0
        while bucket < latencyBounds.count && nanoseconds > latencyBounds[bucket] { bucket += 1 }
        return bucket
    }

    /// The slot of an errno in ``errorNames`` (its count for the rest).
    static func errorSlot(_ code: Int32) -> Int {
        errorNames.firstIndex { $0.code == code } ?? errorNames.count
    }

    /// An operation that librados answered with `status` (0 or a negative
    /// errno), submitted at `startedAt` (from ``now()``).
    public func completed(_ operation: RadosOperation, startedAt: UInt64, status: Int32) {
        let now = Self.now()
        record(operation, nanoseconds: now > startedAt ? now - startedAt : 0, status: status)
    }

    func record(_ operation: RadosOperation, nanoseconds: UInt64, status: Int32) {
        let base = operation.rawValue * Self.operationStride
        cells[base + Self.bucket(nanoseconds)].add(1)
        cells[base + Self.bucketCount].add(nanoseconds)
        guard status < 0 else { return }
        // librados reports an OSD request past rados_osd_op_timeout (the
        // URI's `timeout=`) as ETIMEDOUT; nothing else in it times out.
        if status == -ETIMEDOUT { cells[base + Self.bucketCount + 1].add(1) }
        cells[Self.errorBase + Self.errorSlot(-status)].add(1)
    }

    /// Everything counted so far.
    public func snapshot() -> Snapshot {
        var operations: [RadosOperation: OperationCounts] = [:]
        for operation in RadosOperation.allCases {
            let base = operation.rawValue * Self.operationStride
            operations[operation] = OperationCounts(
                buckets: (0..<Self.bucketCount).map { cells[base + $0].value },
                sumNanoseconds: cells[base + Self.bucketCount].value,
                timeouts: cells[base + Self.bucketCount + 1].value)
        }
        var errors: [String: UInt64] = [:]
        for (slot, entry) in Self.errorNames.enumerated() { errors[entry.name] = cells[Self.errorBase + slot].value }
        errors[Self.otherErrorName] = cells[Self.errorBase + Self.errorNames.count].value
        return Snapshot(operations: operations, errors: errors)
    }

    public struct Snapshot: Sendable, Equatable {
        public var operations: [RadosOperation: OperationCounts]
        /// Failed operations by errno name (``errorNames``, or `other`), every name present.
        public var errors: [String: UInt64]
    }

    public struct OperationCounts: Sendable, Equatable {
        /// Operations per latency bucket (not cumulative), the last one `+Inf`.
        public var buckets: [UInt64]
        public var sumNanoseconds: UInt64
        /// Operations that failed with ETIMEDOUT.
        public var timeouts: UInt64

        /// Operations answered: the sum of the buckets, so that a scrape
        /// racing a completion still shows a count equal to its `+Inf` bucket.
        public var count: UInt64 { buckets.reduce(0, &+) }
    }
}

/// One counter of ``RadosStatistics``; a class because an `Atomic` cannot
/// live in an array.
private final class AtomicCounter: Sendable {
    private let atomic = Atomic<UInt64>(0)

    func add(_ amount: UInt64) { atomic.wrappingAdd(amount, ordering: .relaxed) }

    var value: UInt64 { atomic.load(ordering: .relaxed) }
}
