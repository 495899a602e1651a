import Foundation
import Synchronization
import TestSupport
import Testing

/// `kill -9` of the snapshotter while containerd imports an image onto it,
/// at a seeded point of the import: once the k-th snapshot directory exists,
/// which lands between Prepare k and Commit k or during Commit k. After a
/// restart the import, run again, succeeds; containerd's snapshots and the
/// snapshotter's directories agree; a container runs from the image; and
/// removing the image with containerd's synchronous garbage collection
/// (Remove of every snapshot, children first, then Cleanup) leaves no
/// snapshot directory behind.
@Suite struct SnapshotterCrashTests {
    static let layers = 5

    @Test(arguments: 1...layers)
    func aKillDuringAnImportLeavesNothingGarbageCollectionCannotClear(killOnceDirectoryExists k: Int) async throws {
        let directory = try TemporaryDirectory()
        let image = "buse-crash"
        let files = (2...Self.layers).map { (path: "/layer-\($0)", size: 0) }
        let archive = try await SnapshotterImages.busyboxPlus(files: files, name: image, in: directory)
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        let snapshots = containerd.snapshotterRoot + "/snapshots"

        let finished = Flag()
        let importing = Task {
            defer { finished.set() }
            return (try? await containerd.ctr(["images", "import", "--snapshotter", "buse", archive], timeout: .seconds(120))) != nil
        }
        // Observable progress, not time.
        try await waitUntil("snapshot directory \(k) to appear", timeout: .seconds(120)) {
            Self.directoryCount(snapshots) >= k || finished.isSet
        }
        try await containerd.restartSnapshotterAfterKillNine()
        let firstImportSucceeded = await importing.value
        print("kill once snapshot directory \(k) existed: the first import \(firstImportSucceeded ? "had finished" : "failed")")
        try await containerd.waitUntilTheSnapshotterAnswers()

        try await containerd.ctr(["images", "import", "--snapshotter", "buse", archive], timeout: .seconds(120))
        let listed = try await Self.listedSnapshots(containerd)
        #expect(listed.filter { $0.kind == "Committed" }.count == Self.layers, "\(listed)")
        #expect(Self.directoryCount(snapshots) >= Self.layers)
        let container = try await containerd.ctr(
            // runc keeps container ids machine-wide, whichever containerd: unique ones.
            [
                "run", "--rm", "--snapshotter", "buse", "docker.io/library/\(image):latest", "crash-\(k)-\(UInt32.random(in: 0 ... .max))",
                "/bin/busybox", "cat", "/layer-\(Self.layers)",
            ],
            timeout: .seconds(120))
        #expect(container.standardOutput == "/layer-\(Self.layers)\n", "\(container)")

        try await containerd.ctr(["images", "rm", "--sync", "docker.io/library/\(image):latest"])
        let left = try await Self.listedSnapshots(containerd)
        #expect(left.isEmpty, "containerd's collection removed every snapshot: \(left)")
        // Cleanup (which containerd calls after its sweep) removes the
        // directories of snapshots the store no longer records, killed
        // Prepares' included.
        try await waitUntil("no snapshot directory left", timeout: .seconds(60)) { Self.directoryCount(snapshots) == 0 }
    }

    static func directoryCount(_ path: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).count
    }

    /// `ctr snapshots ls`: KEY PARENT KIND per line after the header.
    static func listedSnapshots(_ containerd: PrivateContainerd) async throws -> [(key: String, kind: String)] {
        let output = try await containerd.snapshots(["ls"]).standardOutput
        return output.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let key = fields.first, let kind = fields.last else { return nil }
            return (String(key), String(kind))
        }
    }
}

/// Set once, read from any thread.
final class Flag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}
