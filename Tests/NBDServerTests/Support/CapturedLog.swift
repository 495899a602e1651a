import Logging
import Synchronization

/// A log that keeps every line at or above its level in memory, so a test
/// can check what an operator would see.
final class CapturedLog: Sendable {
    let lines = Mutex<[(level: Logger.Level, message: String)]>([])

    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "buse-test") { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    /// Lines at `level` or above whose message contains `text`.
    func count(atLeast level: Logger.Level, containing text: String) -> Int {
        lines.withLock { $0.filter { $0.level >= level && $0.message.contains(text) }.count }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.lines.withLock { $0.append((event.level, "\(event.message)")) }
        }
    }
}
