import Foundation
import TestSupport
import Testing

/// `buse layers list --root DIR`: a snapshotter's root with nothing sealed
/// lists no layers; a mistyped root (missing, or a directory that is no
/// snapshotter's) is refused, instead of listing nothing as if it were one.
@Suite struct LayersListRootTests {
    @Test func aRootThatIsNoSnapshottersIsRefused() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("empty"), withIntermediateDirectories: true)
        for root in [directory.file("missing"), directory.file("empty")] {
            let result = try await run(try Tool.buse(), ["layers", "list", "--root", root], in: directory, timeout: .seconds(60))
            #expect(result.termination != .exit(0), "\(result)")
            #expect(result.standardError.contains("--root \(root) is not a snapshotter's root"), "\(result)")
            #expect(!result.standardOutput.contains("CHAIN-ID"), "\(result)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aSnapshottersRootWithNothingSealedListsNoLayers() async throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("root")
        let snapshotter = try await startServingSnapshotter(root: root, socket: directory.file("buse.sock"), in: directory)
        defer { snapshotter.send(SIGKILL) }
        snapshotter.send(SIGTERM)
        #expect(await snapshotter.waitForTermination(timeout: .seconds(60)) == .exit(0))
        let listed = try await runChecked(try Tool.buse(), ["layers", "list", "--root", root], in: directory)
        #expect(
            listed.standardOutput.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") } == [
                "CHAIN-ID PARENT SIZE IMAGE"
            ])
    }
}
