import SnapshotterCore
import Testing

private let t0 = Timestamp(seconds: 100, nanoseconds: 0)
private let t1 = Timestamp(seconds: 200, nanoseconds: 5)

private func snapshot(_ key: String, _ kind: Snapshot.Kind, parent: String? = nil, labels: [String: String] = [:]) -> Snapshot {
    Snapshot(key: key, id: 7, kind: kind, parent: parent, labels: labels, created: t0, updated: t0)
}

@Suite struct SnapshotTransitionsTests {
    struct CreateCase: Sendable, CustomStringConvertible {
        var description: String
        var kind: Snapshot.Kind
        var key: String
        var parentKey: String
        var existing: Snapshot?
        var parent: Snapshot?
        var expected: Result<String?, SnapshotError>  // the stored parent, or the refusal
    }

    static let createCases: [CreateCase] = [
        .init(
            description: "active on nothing", kind: .active, key: "a", parentKey: "", existing: nil, parent: nil, expected: .success(nil)),
        .init(
            description: "view on a committed parent", kind: .view, key: "v", parentKey: "c", existing: nil,
            parent: snapshot("c", .committed), expected: .success("c")),
        .init(
            description: "an existing key", kind: .active, key: "a", parentKey: "", existing: snapshot("a", .view), parent: nil,
            expected: .failure(.alreadyExists("snapshot a: already exists"))),
        .init(
            description: "a missing parent", kind: .active, key: "a", parentKey: "p", existing: nil, parent: nil,
            expected: .failure(.notFound("parent snapshot p: not found"))),
        .init(
            description: "an active parent", kind: .view, key: "a", parentKey: "p", existing: nil, parent: snapshot("p", .active),
            expected: .failure(.invalidArgument("parent p is not a committed snapshot: invalid argument"))),
        .init(
            description: "an empty key", kind: .active, key: "", parentKey: "", existing: nil, parent: nil,
            expected: .failure(.invalidArgument("snapshot key must not be empty: invalid argument"))),
        .init(
            description: "a key with NUL", kind: .active, key: "a\u{0}b", parentKey: "", existing: nil, parent: nil,
            expected: .failure(.invalidArgument("snapshot key contains NUL: invalid argument"))),
        .init(
            description: "a key too long for LMDB", kind: .active, key: String(repeating: "k", count: 512), parentKey: "",
            existing: nil, parent: nil,
            expected: .failure(.invalidArgument("snapshot key longer than 511 bytes: invalid argument"))),
        .init(
            description: "a key that looks like a path", kind: .active, key: "default/1/../../../etc", parentKey: "",
            existing: nil, parent: nil, expected: .success(nil)),
    ]

    @Test(arguments: createCases)
    func createFollowsContainerdsRules(_ row: CreateCase) {
        let result = Result { () throws(SnapshotError) in
            try SnapshotTransitions.create(
                kind: row.kind, key: row.key, parentKey: row.parentKey, labels: ["l": "v"], existing: row.existing,
                parent: row.parent, id: 9, now: t1)
        }
        switch (result, row.expected) {
        case (.success(let created), .success(let parent)):
            #expect(created == Snapshot(key: row.key, id: 9, kind: row.kind, parent: parent, labels: ["l": "v"], created: t1, updated: t1))
        case (.failure(let error), .failure(let expected)): #expect(error == expected)
        default: Issue.record("\(row.description): got \(result), expected \(row.expected)")
        }
    }

    @Test func commitTurnsAnActiveSnapshotIntoACommittedOneUnderANewName() throws {
        let usage = Usage(size: 4096, inodes: 3)
        let committed = try SnapshotTransitions.commit(
            name: "c", key: "a", labels: ["x": "y"], active: snapshot("a", .active, parent: "p"), existing: nil, usage: usage, now: t1)
        #expect(
            committed
                == Snapshot(key: "c", id: 7, kind: .committed, parent: "p", labels: ["x": "y"], created: t1, updated: t1, usage: usage))
    }

    struct CommitCase: Sendable, CustomStringConvertible {
        var description: String
        var active: Snapshot?
        var existing: Snapshot?
        var expected: SnapshotError
    }

    static let commitRefusals: [CommitCase] = [
        .init(description: "a missing key", active: nil, existing: nil, expected: .notFound("snapshot a: not found")),
        .init(
            description: "a view", active: snapshot("a", .view), existing: nil,
            expected: .failedPrecondition("snapshot a is not active: failed precondition")),
        .init(
            description: "a committed snapshot", active: snapshot("a", .committed), existing: nil,
            expected: .failedPrecondition("snapshot a is not active: failed precondition")),
        .init(
            description: "a taken name", active: snapshot("a", .active), existing: snapshot("c", .committed),
            expected: .alreadyExists("snapshot c: already exists")),
    ]

    @Test(arguments: commitRefusals)
    func commitRefuses(_ row: CommitCase) {
        #expect(throws: row.expected) {
            try SnapshotTransitions.commit(
                name: "c", key: "a", labels: [:], active: row.active, existing: row.existing, usage: Usage(size: 0, inodes: 0), now: t1)
        }
    }

    @Test func removeRefusesASnapshotWithChildrenSayingRemove() throws {
        do {
            _ = try SnapshotTransitions.remove(key: "c", snapshot: snapshot("c", .committed), hasChildren: true)
            Issue.record("removed a snapshot with children")
        } catch {
            guard case .failedPrecondition(let message) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(message.contains("remove"))
        }
        #expect(throws: SnapshotError.notFound("snapshot c: not found")) {
            try SnapshotTransitions.remove(key: "c", snapshot: nil, hasChildren: false)
        }
        #expect(try SnapshotTransitions.remove(key: "c", snapshot: snapshot("c", .committed), hasChildren: false).key == "c")
    }

    struct UpdateCase: Sendable, CustomStringConvertible {
        var description: String
        var labels: [String: String]
        var paths: [String]
        var expected: Result<[String: String], SnapshotError>
    }

    static let updateCases: [UpdateCase] = [
        .init(description: "no paths replace every label", labels: ["n": "1"], paths: [], expected: .success(["n": "1"])),
        .init(description: "labels replaces every label", labels: ["n": "1"], paths: ["labels"], expected: .success(["n": "1"])),
        .init(
            description: "labels.K sets one label", labels: ["n": "1", "o": "2"], paths: ["labels.n"],
            expected: .success(["a": "0", "b": "0", "n": "1"])),
        .init(
            description: "labels.K missing removes it", labels: [:], paths: ["labels.a"], expected: .success(["b": "0"])),
        .init(
            description: "a dotted label key", labels: ["containerd.io/gc.root": "x"], paths: ["labels.containerd.io/gc.root"],
            expected: .success(["a": "0", "b": "0", "containerd.io/gc.root": "x"])),
        .init(
            description: "name is immutable", labels: [:], paths: ["name"],
            expected: .failure(.invalidArgument("cannot update name field on snapshot s: invalid argument"))),
        .init(
            description: "kind is immutable", labels: [:], paths: ["labels.a", "kind"],
            expected: .failure(.invalidArgument("cannot update kind field on snapshot s: invalid argument"))),
    ]

    @Test(arguments: updateCases)
    func updateChangesOnlyLabels(_ row: UpdateCase) {
        let current = snapshot("s", .committed, parent: "p", labels: ["a": "0", "b": "0"])
        let result = Result { () throws(SnapshotError) in
            try SnapshotTransitions.update(key: "s", labels: row.labels, paths: row.paths, current: current, now: t1)
        }
        switch (result, row.expected) {
        case (.success(let updated), .success(let labels)):
            #expect(updated.labels == labels)
            #expect(updated.updated == t1 && updated.created == t0 && updated.kind == .committed && updated.parent == "p")
        case (.failure(let error), .failure(let expected)): #expect(error == expected)
        default: Issue.record("\(row.description): got \(result), expected \(row.expected)")
        }
    }
}
