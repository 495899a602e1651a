import Logging
import Synchronization

/// A log handler that keeps each message with its level, so a test can read
/// what the registry logged without bootstrapping swift-log globally.
final class LogCapture: Sendable {
    private let lines = Mutex<[(level: Logger.Level, message: String)]>([])

    var logger: Logger {
        Logger(label: "registry-test") { _ in Handler(capture: self) }
    }

    var messages: [(level: Logger.Level, message: String)] { lines.withLock { $0 } }

    fileprivate func append(_ level: Logger.Level, _ message: String) {
        lines.withLock { $0.append((level, message)) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append(event.level, event.message.description)
        }
    }
}
