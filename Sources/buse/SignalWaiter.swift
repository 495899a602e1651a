import Dispatch
import Glibc

/// Waits for SIGINT or SIGTERM, the signals that ask for a graceful shutdown.
enum SignalWaiter {
    static func waitForTermination() async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let queue = DispatchQueue(label: "buse.signals")
            let resumed = ResumeOnce(continuation)
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler { resumed.resume(signalNumber) }
                source.resume()
                Retained.sources.append(source)
            }
        }
    }

    /// Keeps the signal sources alive for the life of the process.
    private enum Retained {
        nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    }

    // Safety: only touched on the serial signal queue.
    private final class ResumeOnce: @unchecked Sendable {
        private var continuation: CheckedContinuation<Int32, Never>?
        init(_ continuation: CheckedContinuation<Int32, Never>) { self.continuation = continuation }
        func resume(_ value: Int32) {
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
}
