import Foundation
import TestSupport

/// A file whose reads fail or wait on the test's word, for copies that
/// must stop half-way: nbdkit's eval plugin serves bytes `x`, and nbdfuse
/// (libnbd) shows them as a regular file.
final class FuseSourceFile: Sendable {
    enum Behaviour: Sendable {
        /// Reads from this offset on fail with EIO; those before it answer.
        case failing(from: UInt64)
        /// Every read waits until ``release()``.
        case held
    }

    let path: String
    private let releaseMarker: String
    private let readMarker: String
    private let process: ChildProcess

    init(mebibytes: Int, _ behaviour: Behaviour, in directory: TemporaryDirectory, cleanup: Cleanup) async throws {
        let mountPoint = directory.file("fuse")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        releaseMarker = directory.file("release")
        readMarker = directory.file("read")
        let before: String
        switch behaviour {
        case let .failing(offset):
            before = #"if [ "$4" -ge \#(offset) ]; then echo "EIO: reads from \#(offset) on fail" >&2; exit 1; fi"#
        case .held:
            before = "touch \(readMarker); while [ ! -e \(releaseMarker) ]; do sleep 0.05; done"
        }
        // nbdkit's eval plugin writes the scripts itself (a script this
        // process wrote could be "busy" while a parallel test forks).
        let plugin = [
            "eval", "get_size=echo \(mebibytes)M", "thread_model=echo parallel",
            "pread=\(before); head -c \"$3\" /dev/zero | tr '\\0' x",
        ]
        path = mountPoint + "/nbd"
        process = try ChildProcess(
            try Tool.path("nbdfuse"), ["-r", mountPoint, "--command", try Tool.path("nbdkit"), "-s"] + plugin,
            outputPrefix: directory.unique("nbdfuse"), currentDirectory: directory.path)
        _ = cleanup.add([try Tool.path("fusermount3"), "-u", mountPoint])
        let path = path
        let process = process
        try await waitUntil("nbdfuse shows \(path)", timeout: .seconds(120)) {
            if let ended = process.termination {
                throw InteropError("nbdfuse \(ended) before mounting:\n\(process.standardErrorTail())")
            }
            return FileManager.default.fileExists(atPath: path)
        }
    }

    /// Waits until the first read has reached nbdkit.
    func waitForFirstRead() async throws {
        let readMarker = readMarker
        try await waitUntil("a read reaches nbdkit", timeout: .seconds(600)) { FileManager.default.fileExists(atPath: readMarker) }
    }

    /// Lets held reads go on, and every later one answer at once.
    func release() throws { try "".write(toFile: releaseMarker, atomically: true, encoding: .utf8) }
}
