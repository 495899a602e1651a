import Foundation

/// Progress of a long operation (verify, garbage collection, fsck) as a
/// person can read it: on a terminal, one live line rewritten in place with
/// percent, rate and time left; in a log (not a terminal), a plain line at
/// every tenth, so a log is neither silent nor flooded.
final class ProgressLine {
    enum Unit { case bytes, items(String) }

    private let label: String
    private let unit: Unit
    private let isTerminal = isatty(2) != 0
    private let started = ContinuousClock.now
    /// Where the operation stood when this line began following it (a
    /// resync joined half-way): the rate counts only what moved since.
    private let baseline: UInt64
    private var lastShown = -1
    private var shownAny = false

    init(_ label: String, unit: Unit, startingAt baseline: UInt64 = 0) {
        self.label = label
        self.unit = unit
        self.baseline = baseline
    }

    func update(done: UInt64, total: UInt64) {
        guard total > 0 else { return }
        let percent = Int(min(done, total) * 100 / total)
        let step = isTerminal ? 1 : 10
        guard percent / step != lastShown / step else { return }
        lastShown = percent
        let line = "\(label): \(percent)% (\(amount(done)) of \(amount(total)))\(speed(done: done, total: total))"
        write(isTerminal ? "\r\u{1B}[K" + line : line + "\n")
        shownAny = true
    }

    /// Ends the live line (a terminal's cursor moves to the next line).
    func finish() {
        if isTerminal && shownAny { write("\n") }
    }

    private func amount(_ value: UInt64) -> String {
        switch unit {
        case .bytes: ByteCount.text(value)
        case .items(let noun): "\(value) \(noun)"
        }
    }

    /// ", 120 MiB/s, 0:42 left" once a second has passed and there is a rate.
    private func speed(done: UInt64, total: UInt64) -> String {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard seconds >= 1, done > baseline else { return "" }
        let rate = Double(done - baseline) / seconds
        let left = Int(Double(total - min(done, total)) / rate)
        let rateText: String
        switch unit {
        case .bytes: rateText = "\(ByteCount.text(UInt64(rate)))/s"
        case .items(let noun): rateText = "\(Int(rate)) \(noun)/s"
        }
        return ", \(rateText), \(left / 60):\(String(format: "%02d", left % 60)) left"
    }

    private func write(_ text: String) { StandardError.write(text) }
}

/// Byte counts with binary units, as buse prints sizes everywhere.
enum ByteCount {
    static func text(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024 && index < units.count - 1 {
            value /= 1024
            index += 1
        }
        return index == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[index])
    }
}
