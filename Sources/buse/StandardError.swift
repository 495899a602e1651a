import Glibc

/// Writes to standard error that never stop the command they report on.
///
/// Foundation's `FileHandle.write(_:)` traps when a write fails, so a
/// progress line sent to a log on a full disk killed `buse image import`
/// half-way (SIGILL), leaving a half-made image behind. A line that cannot
/// be written is dropped instead: the copy, and its cleanup on failure,
/// matter more than the report of it. (SIGPIPE is ignored process-wide,
/// so a closed pipe is an EPIPE here too.)
enum StandardError {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var rest = UnsafeRawBufferPointer(bytes)
            while !rest.isEmpty {
                let written = Glibc.write(STDERR_FILENO, rest.baseAddress, rest.count)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                rest = UnsafeRawBufferPointer(rebasing: rest[written...])
            }
        }
    }
}
