import Foundation

/// Raw disk images for the copy tests: random data with holes between, so
/// copies exercise both data and zero handling.
enum DiskImage {
    /// A sparse file of `mebibytes` MiB with random data in `dataRanges`
    /// (in MiB); the rest stays a hole that reads as zeros.
    static func random(
        at path: String, mebibytes: Int, dataRanges: [Range<Int>], in directory: TemporaryDirectory
    ) async throws {
        try await runChecked("truncate", ["-s", "\(mebibytes)M", path], in: directory)
        for range in dataRanges {
            try await runChecked(
                "dd",
                [
                    "if=/dev/urandom", "of=\(path)", "bs=1M", "seek=\(range.lowerBound)", "count=\(range.count)",
                    "conv=notrunc", "status=none",
                ],
                in: directory)
        }
    }

    /// The SHA-256 of a file, by sha256sum.
    static func sha256(_ path: String, in directory: TemporaryDirectory) async throws -> String {
        let result = try await runChecked("sha256sum", [path], in: directory, timeout: .seconds(120))
        return String(result.standardOutput.prefix(64))
    }
}
