/// containerd's filter language (`github.com/containerd/containerd/filters`)
/// applied to snapshots, as its snapshot service applies it to List.
///
///     filter   := selector ("," selector)*        every selector must match
///     selector := fieldpath [operator value]      no operator: the field is present
///     fieldpath:= field ("." field)*              field: [A-Za-z_][A-Za-z0-9_]* or quoted
///     operator := "==" | "!=" | "~="
///     value    := quoted | run of characters other than "," and space
///
/// Quotes are `"…"` (with backslash escapes), `/…/` or `|…|`. Several
/// filters in one request match when any of them does; no filter, or an
/// empty one, matches everything. Fields: `name`, `parent`, `kind`
/// (`active`, `view`, `committed`) and `labels.KEY`.
public struct SnapshotFilter: Sendable {
    enum Operator: Sendable { case present, equal, notEqual, matches }

    struct Selector: @unchecked Sendable {
        // Safety: `Regex` is not Sendable, but a compiled regex is never mutated after parsing.
        var fieldpath: [String]
        var op: Operator
        var value: String
        var regex: Regex<AnyRegexOutput>?
    }

    /// The selectors of one filter, all of which must match.
    let selectors: [Selector]

    /// Parses one filter; a malformed one is `.invalidArgument`.
    public init(parsing text: String) throws(SnapshotError) {
        var scanner = FilterScanner(text)
        selectors = try scanner.filter()
    }

    /// Whether `snapshot` passes every selector.
    public func matches(_ snapshot: Snapshot) -> Bool {
        selectors.allSatisfy { selector in
            let (value, present) = Self.field(selector.fieldpath, of: snapshot)
            switch selector.op {
            case .present: return present
            case .equal: return present && value == selector.value
            case .notEqual: return value != selector.value
            case .matches: return (try? selector.regex?.firstMatch(in: value)) != nil
            }
        }
    }

    /// True when `filters` is empty or any of them matches: the rule of List.
    public static func matches(any filters: [SnapshotFilter], _ snapshot: Snapshot) -> Bool {
        filters.isEmpty || filters.contains { $0.matches(snapshot) }
    }

    /// containerd's snapshot adaptor: the value of a field path and whether it is present.
    static func field(_ fieldpath: [String], of snapshot: Snapshot) -> (String, Bool) {
        guard let first = fieldpath.first else { return ("", false) }
        switch first {
        case "name": return (snapshot.key, !snapshot.key.isEmpty)
        case "parent": return (snapshot.parent ?? "", snapshot.parent != nil)
        case "kind": return (snapshot.kind.rawValue, true)
        case "labels":
            let label = fieldpath.dropFirst().joined(separator: ".")
            guard let value = snapshot.labels[label] else { return ("", false) }
            return (value, true)
        default: return ("", false)
        }
    }
}
