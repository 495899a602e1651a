import Foundation
import Glibc
import TestSupport
import Testing

/// Where `buse snapshotter serve --socket PATH` listens. The documented
/// path, /run/buse/snapshotter.sock, is on a tmpfs that every boot empties,
/// so the snapshotter makes the socket's missing directories itself (as
/// containerd does for its own socket); a path it cannot use is refused
/// with a sentence that names it, before anything is made.
@Suite struct SnapshotterSocketTests {
    @Test(.timeLimit(.minutes(2)))
    func theSocketsMissingDirectoriesAreMadeAndItListens() async throws {
        let directory = try TemporaryDirectory()
        let socket = directory.file("run/buse/snapshotter.sock")
        let snapshotter = try await startServingSnapshotter(root: directory.file("root"), socket: socket, in: directory)
        defer { snapshotter.send(SIGKILL) }
        var status = stat()
        #expect(stat(directory.file("run/buse"), &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR)
        #expect(stat(socket, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK)
        close(try connectToUnixSocket(socket))
        snapshotter.send(SIGTERM)
        #expect(await snapshotter.waitForTermination(timeout: .seconds(60)) == .exit(0))
    }

    @Test func aSocketPathTooLongForUnixSocketsIsRefusedBeforeAnythingIsMade() async throws {
        let directory = try TemporaryDirectory()
        let socket = directory.file(String(repeating: "s", count: 120) + ".sock")
        let result = try await run(
            try Tool.buse(), ["snapshotter", "serve", "--root", directory.file("root"), "--socket", socket], in: directory,
            timeout: .seconds(60))
        #expect(result.termination != .exit(0), "\(result)")
        #expect(result.standardError.contains("a Unix socket path is 1 to 107"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("root")), "the root was made anyway")
    }

    @Test func aSocketDirectoryThatCannotBeMadeIsNamed() async throws {
        let directory = try TemporaryDirectory()
        // A regular file where a directory of the path should be.
        try "not a directory\n".write(toFile: directory.file("file"), atomically: true, encoding: .utf8)
        let result = try await run(
            try Tool.buse(),
            ["snapshotter", "serve", "--root", directory.file("root"), "--socket", directory.file("file/run/x.sock")],
            in: directory, timeout: .seconds(60))
        #expect(result.termination != .exit(0), "\(result)")
        #expect(
            result.standardError.contains("cannot reach the socket's directory \(directory.file("file/run")): Not a directory"),
            "\(result)")
    }
}
