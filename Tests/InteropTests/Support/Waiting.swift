import Foundation

/// Waits until `condition` holds, checking every few milliseconds, for at
/// most `timeout`; throws if it never does. This is how tests wait: for a
/// condition with a bound, never for a fixed time.
func waitUntil(
    _ what: String, timeout: Duration = .seconds(30), _ condition: () throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try condition() { return }
        guard clock.now < deadline else { throw InteropError("timed out after \(timeout) waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
