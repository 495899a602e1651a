/// The `n` and `last` query parameters of tag and catalog listings.
///
/// `n` is clamped to `countMaximum` rather than refused: the spec lets a
/// registry return fewer than `n` results as long as it sends a `Link` to the
/// rest, and a client asking for a million tags is better served by paging
/// than by an error. Non-numeric or negative `n` is refused with distribution's
/// `PAGINATION_NUMBER_INVALID`.
public struct PageRequest: Sendable, Equatable {
    /// The most entries one response holds (distribution's catalog limit), so
    /// one request cannot make us render an unbounded body.
    public static let countMaximum = 1000

    /// How many entries to return; nil when the client did not say.
    public var count: Int?
    /// Return only entries strictly after this one.
    public var last: String?

    public init(count: Int? = nil, last: String? = nil) {
        self.count = count.map { min($0, Self.countMaximum) }
        self.last = last.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// From the raw query values.
    public init(n: String?, last: String?) throws(RegistryError) {
        guard let n else {
            self.init(count: nil, last: last)
            return
        }
        // Digits only (no sign, no spaces); ten digits already exceed any limit.
        guard !n.isEmpty, n.utf8.allSatisfy(ASCII.isDigit) else {
            throw RegistryError(.paginationNumberInvalid, detail: ["n": String(n.prefix(32))])
        }
        let count = n.utf8.count > 9 ? Self.countMaximum : Int(n) ?? Self.countMaximum
        self.init(count: count, last: last)
    }

    /// The entries of a page: those strictly after `last` (byte-wise), at most
    /// `count` (all when `count` is nil), and whether more follow.
    ///
    /// `sorted` must be sorted byte-wise and free of duplicates; the scan stops
    /// as soon as the page is full, so a lazy sequence is never fully read.
    public func page<Entries: Sequence<String>>(of sorted: Entries) -> (entries: [String], hasMore: Bool) {
        let limit = count ?? Int.max
        var entries: [String] = []
        for entry in sorted {
            if let last, !last.utf8.lexicographicallyPrecedes(entry.utf8) { continue }
            if entries.count == limit { return (entries, true) }
            entries.append(entry)
        }
        return (entries, false)
    }

    /// The same page of an array, found by binary search for `last` instead
    /// of a scan from the start (a page deep in 10,000 tags).
    public func page(of sorted: [String]) -> (entries: [String], hasMore: Bool) {
        var start = sorted.startIndex
        if let last {
            var end = sorted.endIndex
            while start < end {
                let middle = start + (end - start) / 2
                if last.utf8.lexicographicallyPrecedes(sorted[middle].utf8) { end = middle } else { start = middle + 1 }
            }
        }
        let limit = count ?? Int.max
        let end = sorted.endIndex - start > limit ? start + limit : sorted.endIndex
        return (Array(sorted[start..<end]), end < sorted.endIndex)
    }

    /// The `Link` header pointing at the next page, for `path` such as
    /// `/v2/<name>/tags/list` or `/v2/_catalog`, when more entries exist.
    public func nextLink(path: String, entries: [String], hasMore: Bool) -> String? {
        guard hasMore, let lastEntry = entries.last else { return nil }
        let count = count ?? entries.count
        return "<\(path)?n=\(count)&last=\(Query.percentEncoded(lastEntry))>; rel=\"next\""
    }
}

extension Sequence<String> {
    /// Sorted the way listings are: byte-wise on UTF-8, as Go's `sort.Strings`.
    public func sortedBytewise() -> [String] {
        sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
