/// Per-request events of one kind on one connection (refused requests,
/// failed device calls), counted, and logged as a summary at most once per
/// ``interval``: a client that sends thousands of bad requests, or a device
/// that fails every call, must not flood the log (one peer's read-only test
/// once wrote 623 warning lines). Every event is also logged at debug.
///
/// No I/O and no clock of its own: the caller passes the time, so the rule
/// is tested as a table. The first event of a quiet period is reported at
/// once, with its cause; the ones after it, within the interval, are
/// counted and reported with the next event after the interval, or when
/// the connection ends.
struct EventSummary: Sendable {
    /// At most one summary line per interval.
    static let interval: Duration = .seconds(10)

    /// Events since the connection began.
    private(set) var total: UInt64 = 0
    /// Events since the last line, not in it.
    private var unreported = 0
    private var latest = ""
    private var lastReport: ContinuousClock.Instant?

    /// Counts an event described by `what`; returns the line to log now, if any.
    mutating func record(_ what: String, at now: ContinuousClock.Instant) -> String? {
        total += 1
        if let lastReport, now - lastReport < Self.interval {
            unreported += 1
            latest = what
            return nil
        }
        lastReport = now
        defer { unreported = 0 }
        return unreported == 0 ? what : "\(what) (and \(unreported) more since the last report, the latest: \(latest))"
    }

    /// The line for events not yet reported, when the connection ends.
    mutating func finish() -> String? {
        guard unreported > 0 else { return nil }
        defer { unreported = 0 }
        return "\(unreported) more since the last report, the latest: \(latest)"
    }
}
