import SnapshotterCore
import Testing

@Suite struct SnapshotMountTests {
    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var kind: Snapshot.Kind
        var parents: [String]
        var expected: [SnapshotMount]
    }

    static let cases: [Case] = [
        .init(
            description: "active on nothing binds its own fs read-write", kind: .active, parents: [],
            expected: [.init(type: "bind", source: "/r/9/fs", options: ["rbind", "rw"])]),
        .init(
            description: "view on nothing binds its own fs read-only", kind: .view, parents: [],
            expected: [.init(type: "bind", source: "/r/9/fs", options: ["rbind", "ro"])]),
        .init(
            description: "view on one parent binds the parent read-only", kind: .view, parents: ["/r/1/fs"],
            expected: [.init(type: "bind", source: "/r/1/fs", options: ["rbind", "ro"])]),
        .init(
            description: "view on several parents is overlay with only lowerdir", kind: .view, parents: ["/r/2/fs", "/r/1/fs"],
            expected: [.init(type: "overlay", source: "overlay", options: ["lowerdir=/r/2/fs:/r/1/fs"])]),
        .init(
            description: "active on parents is overlay with upper and work", kind: .active, parents: ["/r/2/fs", "/r/1/fs"],
            expected: [
                .init(type: "overlay", source: "overlay", options: ["workdir=/r/9/work", "upperdir=/r/9/fs", "lowerdir=/r/2/fs:/r/1/fs"])
            ]),
    ]

    @Test(arguments: cases)
    func mountsFollowContainerdsOverlayfsSnapshotter(_ row: Case) {
        #expect(SnapshotMount.mounts(kind: row.kind, directory: "/r/9", parents: row.parents) == row.expected)
    }
}
