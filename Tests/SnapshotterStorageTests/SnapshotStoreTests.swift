import Glibc
import SnapshotterCore
import SnapshotterStorage
import Testing

/// A fresh root under /tmp per test, removed at the end.
final class TemporaryRoot {
    let path: String

    init() {
        var template = Array("/tmp/buse-snapshotter-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { _ = system("rm -rf '\(path)'") }
}

private func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
}

private func mode(_ path: String) -> mode_t {
    var status = stat()
    lstat(path, &status)
    return status.st_mode & 0o7777
}

/// The refusal a call ended with, nil if it succeeded or failed otherwise.
private func refusal(_ body: () throws -> Void) -> SnapshotError? {
    do {
        try body()
        return nil
    } catch let error as SnapshotStoreError {
        guard case .refused(let refusal) = error else { return nil }
        return refusal
    } catch {
        return nil
    }
}

@Suite struct SnapshotStoreTests {
    @Test func aLayerIsPreparedCommittedAndStackedAsContainerdImportsIt() throws {
        let root = TemporaryRoot()
        let store = try SnapshotStore(root: root.path)
        let base = try store.create(kind: .active, key: "ns/1/extract-1 sha256:a", parent: "", labels: [:])
        #expect(base == [SnapshotMount(type: "bind", source: root.path + "/snapshots/1/fs", options: ["rbind", "rw"])])
        #expect(mode(root.path + "/snapshots/1/fs") == 0o755)
        #expect(creat(root.path + "/snapshots/1/fs/file", 0o644) >= 0)
        try store.commit(name: "ns/1/sha256:a", key: "ns/1/extract-1 sha256:a", labels: ["containerd.io/snapshot.ref": "a"])
        let committed = try store.stat(key: "ns/1/sha256:a")
        #expect(committed.kind == .committed && committed.parent == nil && committed.labels == ["containerd.io/snapshot.ref": "a"])
        #expect(try store.usage(key: "ns/1/sha256:a").inodes == 2)
        #expect(refusal { _ = try store.stat(key: "ns/1/extract-1 sha256:a") } == .notFound("snapshot ns/1/extract-1 sha256:a: not found"))

        let upper = try store.create(kind: .active, key: "ns/2/c1", parent: "ns/1/sha256:a", labels: [:])
        let directory = root.path + "/snapshots/2"
        #expect(
            upper == [
                SnapshotMount(
                    type: "overlay", source: "overlay",
                    options: ["workdir=\(directory)/work", "upperdir=\(directory)/fs", "lowerdir=\(root.path)/snapshots/1/fs"])
            ])
        let view = try store.create(kind: .view, key: "ns/3/v", parent: "ns/1/sha256:a", labels: [:])
        #expect(view == [SnapshotMount(type: "bind", source: root.path + "/snapshots/1/fs", options: ["rbind", "ro"])])
        #expect(try store.mounts(key: "ns/3/v") == view)
        #expect(try store.list(filters: [SnapshotFilter(parsing: "parent==ns/1/sha256:a")]).map(\.key) == ["ns/2/c1", "ns/3/v"])
    }

    @Test func removingASnapshotWithChildrenFailsAndChangesNothing() throws {
        let root = TemporaryRoot()
        let store = try SnapshotStore(root: root.path)
        _ = try store.create(kind: .active, key: "a", parent: "", labels: [:])
        try store.commit(name: "c", key: "a", labels: [:])
        _ = try store.create(kind: .view, key: "v", parent: "c", labels: [:])
        let error = refusal { try store.remove(key: "c") }
        guard case .failedPrecondition(let message) = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(message.contains("remove"))
        #expect(isDirectory(root.path + "/snapshots/1/fs"))
        try store.remove(key: "v")
        try store.remove(key: "c")
        #expect(try store.list(filters: []).isEmpty)
        #expect(!isDirectory(root.path + "/snapshots/1") && !isDirectory(root.path + "/snapshots/2"))
    }

    @Test func aRefusedCallLeavesNeitherMetadataNorADirectory() throws {
        let root = TemporaryRoot()
        let store = try SnapshotStore(root: root.path)
        _ = try store.create(kind: .active, key: "a", parent: "", labels: [:])
        #expect(
            refusal { _ = try store.create(kind: .active, key: "a", parent: "", labels: [:]) }
                == .alreadyExists("snapshot a: already exists"))
        #expect(refusal { _ = try store.create(kind: .active, key: "b", parent: "a", labels: [:]) } != nil)
        #expect(refusal { _ = try store.create(kind: .view, key: "b", parent: "missing", labels: [:]) } != nil)
        #expect(try store.list(filters: []).map(\.key) == ["a"])
        #expect(!isDirectory(root.path + "/snapshots/2"))
        #expect(try store.cleanup().isEmpty)
    }

    @Test func metadataSurvivesReopeningAndCleanupCollectsWhatACrashLeft() throws {
        let root = TemporaryRoot()
        do {
            let store = try SnapshotStore(root: root.path)
            _ = try store.create(kind: .active, key: "a", parent: "", labels: ["k": "v"])
            try store.commit(name: "c", key: "a", labels: [:])
            _ = try store.create(kind: .active, key: "b", parent: "c", labels: [:])
        }
        // What a crash leaves: a directory made for a transaction that never
        // committed (id 3, never named), and one whose removal committed but
        // whose deletion never ran (id 9).
        for path in ["/snapshots/3", "/snapshots/3/fs", "/snapshots/9", "/snapshots/9/fs", "/snapshots/not-an-id"] {
            mkdir(root.path + path, 0o755)
        }
        let store = try SnapshotStore(root: root.path)
        #expect(try store.list(filters: []).map(\.key) == ["b", "c"])
        #expect(try store.stat(key: "b").parent == "c")
        #expect(try store.cleanup() == [3, 9])
        #expect(isDirectory(root.path + "/snapshots/1/fs") && isDirectory(root.path + "/snapshots/2/fs"))
        #expect(isDirectory(root.path + "/snapshots/not-an-id"))
        // An id the counter has not handed out is reused over any garbage left in it.
        mkdir(root.path + "/snapshots/3", 0o755)
        creat(root.path + "/snapshots/3/garbage", 0o644)
        _ = try store.create(kind: .active, key: "d", parent: "", labels: [:])
        #expect(try store.stat(key: "d").id == 3)
        #expect(access(root.path + "/snapshots/3/garbage", F_OK) != 0)
    }

    @Test func aFullMetadataMapIsNoSpaceAndLosesNothing() throws {
        let root = TemporaryRoot()
        var created: [String] = []
        do {
            let store = try SnapshotStore(root: root.path, mapSize: 64 * 1024)
            var failure: SnapshotStoreError?
            let label = String(repeating: "x", count: 4000)
            for index in 0..<1000 {
                do {
                    _ = try store.create(kind: .active, key: "k\(index)", parent: "", labels: ["l": label])
                    created.append("k\(index)")
                } catch {
                    failure = error
                    break
                }
            }
            guard case .noSpace = failure else {
                Issue.record("expected noSpace, got \(String(describing: failure))")
                return
            }
            #expect(try store.list(filters: []).map(\.key).sorted() == created.sorted())
            #expect(try store.cleanup().isEmpty)
        }
        // Nothing was half-written: with room again, every snapshot is there and usable.
        let store = try SnapshotStore(root: root.path, mapSize: 1 << 20)
        #expect(try store.list(filters: []).map(\.key).sorted() == created.sorted())
        try store.remove(key: created[0])
        _ = try store.create(kind: .active, key: "again", parent: "", labels: [:])
    }

    @Test func updateAndUsageWorkOnStoredSnapshots() throws {
        let root = TemporaryRoot()
        let store = try SnapshotStore(root: root.path)
        _ = try store.create(kind: .active, key: "a", parent: "", labels: ["x": "1"])
        let updated = try store.update(key: "a", labels: ["y": "2"], paths: ["labels.y"])
        #expect(updated.labels == ["x": "1", "y": "2"])
        #expect(try store.stat(key: "a").labels == ["x": "1", "y": "2"])
        #expect(refusal { _ = try store.update(key: "a", labels: [:], paths: ["parent"]) } != nil)
        let fs = root.path + "/snapshots/1/fs"
        let file = open(fs + "/data", O_CREAT | O_WRONLY, 0o644)
        let bytes = [UInt8](repeating: 1, count: 8192)
        #expect(write(file, bytes, bytes.count) == 8192)
        close(file)
        link(fs + "/data", fs + "/hardlink")
        let usage = try store.usage(key: "a")
        #expect(usage.inodes == 2)
        #expect(usage.size >= 8192)
    }
}
