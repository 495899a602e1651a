import BlockDevices
import DeviceCopy
import Foundation
import Synchronization

/// Runs one copy of `buse image import|export|copy` from start to report:
/// progress on standard error, the summary on standard output, and on
/// failure or an interrupt (SIGINT, SIGTERM) the destination's cleanup and
/// an error that says what is left.
struct ImageTransfer {
    /// Bytes of chunk buffers at most: 16 chunks of 4 MiB objects, enough
    /// requests in flight that one request's latency does not bound the copy.
    static let bufferBudget = 64 << 20

    /// "import", "export", "copy": the progress line's label.
    let verb: String
    let source: ImageCopyEnd
    let destination: ImageCopyEnd
    let destinationIsBlank: Bool
    /// The RADOS object size on the image side: chunks are aligned to it.
    let objectSize: UInt64

    /// One chunk per object, but at least 4 MiB (small objects are copied
    /// several at a time) and at most 32 MiB (a device's largest request).
    var chunkLength: Int { Int(min(max(objectSize, 4 << 20), 32 << 20)) }

    func run(success: String) async throws {
        var copy = DeviceCopy(from: source.device, to: destination.device, destinationIsBlank: destinationIsBlank)
        copy.chunkLength = chunkLength
        copy.chunksInFlight = max(2, Self.bufferBudget / chunkLength)
        // From here a termination signal cancels the copy instead of
        // killing the process, so a half-made image is still removed.
        let signals = SignalWaiter()
        let progress = CopyProgressLine(ProgressLine(verb, unit: .bytes))
        let started = ContinuousClock.now
        let copying = Task { await Self.outcome(of: copy, progress: progress) }
        // Only this cancels the copy: a cancelled copy was interrupted. It
        // runs on the signal thread, since reads of a hung source (a file's
        // pread) may hold every thread of the pool.
        let interrupted = "\(verb): interrupted; stopping once the requests in flight are done"
        signals.whenSignalled { _ in
            copying.cancel()
            progress.note(interrupted)
        }
        let result = await copying.value
        progress.finish()
        let sourceFailure = await source.closeDevice()
        source.release()
        var problems: [String] = []
        if case let .failure(error) = result { problems.append(error.description) }
        // A destination that fails to close may not hold what was written.
        if let failure = await destination.closeDevice() { problems.append(failure) }
        if case let .success(report) = result, problems.isEmpty {
            destination.release()
            if let sourceFailure { StandardError.write("warning: \(sourceFailure)\n") }
            print("\(success): \(summary(report, took: ContinuousClock.now - started))")
            return
        }
        if case .failure(.cancelled) = result { problems.insert("interrupted by SIGINT or SIGTERM", at: 0) }
        problems.append(destination.afterFailure())
        destination.release()
        throw CommandLineError("\(verb) failed: " + problems.filter { !$0.isEmpty }.joined(separator: "; "))
    }

    /// The copy's report or failure, as a value (a typed-throws do/catch
    /// in a task's closure lost values in release builds; see DeviceCopy).
    private static func outcome(of copy: DeviceCopy, progress: CopyProgressLine) async -> Result<CopyReport, CopyError> {
        do throws(CopyError) {
            return .success(try await copy.run { done, total in progress.update(done: done, total: total) })
        } catch {
            return .failure(error)
        }
    }

    private func summary(_ report: CopyReport, took: Duration) -> String {
        let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
        let rate = seconds > 0 ? " (\(ByteCount.text(UInt64(Double(report.length) / seconds)))/s)" : ""
        let zeroed = report.bytesZeroed > 0 ? ", \(ByteCount.text(report.bytesZeroed)) zeroed" : ""
        return "\(ByteCount.text(report.length)), \(ByteCount.text(report.bytesWritten)) of data written\(zeroed), "
            + "\(ByteCount.text(report.bytesSkipped)) left as holes; "
            + "\(ByteCount.text(report.bytesRead)) read in \(String(format: "%.1f", seconds)) s\(rate)"
    }
}

/// The progress line, updated from the copy's task.
final class CopyProgressLine: Sendable {
    private let line: Mutex<ProgressLine>

    init(_ line: sending ProgressLine) { self.line = Mutex(line) }

    func update(done: UInt64, total: UInt64) { line.withLock { $0.update(done: done, total: total) } }
    func finish() { line.withLock { $0.finish() } }

    /// A line of its own, after the live line if there is one.
    func note(_ text: String) {
        line.withLock { line in
            line.finish()
            StandardError.write(text + "\n")
        }
    }
}
