import SnapshotterCore
import Testing

private let t0 = Timestamp(seconds: 1, nanoseconds: 0)
private let snapshots = [
    Snapshot(
        key: "ns/1/base", id: 1, kind: .committed, parent: nil, labels: ["containerd.io/gc.root": "yes", "plain": "1"], created: t0,
        updated: t0),
    Snapshot(key: "ns/2/mid", id: 2, kind: .committed, parent: "ns/1/base", labels: ["plain": "2"], created: t0, updated: t0),
    Snapshot(key: "ns/3/work dir", id: 3, kind: .active, parent: "ns/2/mid", labels: [:], created: t0, updated: t0),
    Snapshot(key: "ns/4/view", id: 4, kind: .view, parent: "ns/1/base", labels: ["plain": "1"], created: t0, updated: t0),
]

@Suite struct SnapshotFilterTests {
    struct Case: Sendable, CustomStringConvertible {
        var filters: [String]
        var expected: [UInt64]
        var description: String { filters.description }
    }

    static let cases: [Case] = [
        .init(filters: [], expected: [1, 2, 3, 4]),
        .init(filters: [""], expected: [1, 2, 3, 4]),
        .init(filters: ["name==ns/2/mid"], expected: [2]),
        .init(filters: [#"name=="ns/3/work dir""#], expected: [3]),
        .init(filters: ["parent==ns/1/base"], expected: [2, 4]),
        .init(filters: ["parent!=ns/1/base"], expected: [1, 3]),
        .init(filters: ["kind==committed"], expected: [1, 2]),
        .init(filters: ["kind==active"], expected: [3]),
        .init(filters: ["kind==view"], expected: [4]),
        .init(filters: ["parent"], expected: [2, 3, 4]),
        .init(filters: ["labels.plain"], expected: [1, 2, 4]),
        .init(filters: ["labels.plain==1"], expected: [1, 4]),
        .init(filters: [#"labels."containerd.io/gc.root"==yes"#], expected: [1]),
        .init(filters: [#"labels."containerd.io/gc.root""#], expected: [1]),
        .init(filters: ["labels.plain==1,kind==view"], expected: [4]),
        .init(filters: ["labels.plain==1, kind==committed"], expected: [1]),
        .init(filters: ["kind==view", "name==ns/2/mid"], expected: [2, 4]),
        .init(filters: ["name~=^ns/[12]/"], expected: [1, 2]),
        .init(filters: ["name~=/mid$/"], expected: [2]),
        .init(filters: ["unknown==x"], expected: []),
        .init(filters: ["labels.absent!=x"], expected: [1, 2, 3, 4]),
    ]

    @Test(arguments: cases)
    func listFiltersSelectWhatContainerdsWould(_ row: Case) throws {
        let filters = try row.filters.map { text throws(SnapshotError) in try SnapshotFilter(parsing: text) }
        #expect(snapshots.filter { SnapshotFilter.matches(any: filters, $0) }.map(\.id) == row.expected)
    }

    static let malformed = [
        "==x", "name=", "name==", "name=x", "name==a,", "name==a b", #"labels."open"#, "1abc==x", "name~=(", "name==a,,b", ".x",
    ]

    @Test(arguments: malformed)
    func malformedFiltersAreInvalidArguments(_ text: String) {
        do {
            _ = try SnapshotFilter(parsing: text)
            Issue.record("parsed \(text)")
        } catch {
            guard case .invalidArgument = error else {
                Issue.record("\(error)")
                return
            }
        }
    }
}
