/// Waits until `condition` holds, checking every few milliseconds, for at
/// most `timeout`; throws ``TimedOut`` if it never does. This is how tests
/// wait: for a condition with a bound, never for a fixed time. The bound is
/// a safety net sized for a loaded machine, not a measure of speed.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(120), _ condition: () throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try condition() { return }
        guard clock.now < deadline else { throw TimedOut(what: what, timeout: timeout) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A condition a test waited for never held.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Duration
    public var description: String { "timed out after \(timeout) waiting until \(what)" }
}
