import Testing

@testable import RegistryCore

@Suite struct PageRequestTests {
    static let tags = ["a", "b", "c", "d", "e"]

    @Test(
        arguments: [
            (nil, nil, ["a", "b", "c", "d", "e"], false),
            (2, nil, ["a", "b"], true),
            (2, "b", ["c", "d"], true),
            (2, "c", ["d", "e"], false),
            (5, nil, ["a", "b", "c", "d", "e"], false),
            (0, nil, [], true),
            (nil, "bb", ["c", "d", "e"], false),
            (3, "z", [], false),
            (3, "", ["a", "b", "c"], true),
        ] as [(Int?, String?, [String], Bool)])
    func pagesStartAfterLastAndHoldAtMostN(_ count: Int?, _ last: String?, _ entries: [String], _ hasMore: Bool) {
        let page = PageRequest(count: count, last: last).page(of: Self.tags)
        #expect(page.entries == entries)
        #expect(page.hasMore == hasMore)
        // The scan of any sequence agrees with the binary search of an array.
        let scanned = PageRequest(count: count, last: last).page(of: Self.tags.lazy)
        #expect(scanned.entries == entries)
        #expect(scanned.hasMore == hasMore)
    }

    @Test func theNextLinkCarriesNAndTheLastEntry() {
        let request = PageRequest(count: 2)
        let page = request.page(of: Self.tags)
        #expect(
            request.nextLink(path: "/v2/a/tags/list", entries: page.entries, hasMore: page.hasMore)
                == #"</v2/a/tags/list?n=2&last=b>; rel="next""#)
    }

    @Test func thereIsNoLinkOnTheLastPageOrForAnEmptyOne() {
        #expect(PageRequest(count: 5).nextLink(path: "/p", entries: Self.tags, hasMore: false) == nil)
        #expect(PageRequest(count: 0).nextLink(path: "/p", entries: [], hasMore: true) == nil)
    }

    @Test func catalogLinksEscapeWhatNeedsIt() {
        let link = PageRequest(count: 1).nextLink(path: "/v2/_catalog", entries: ["a/b"], hasMore: true)
        #expect(link == #"</v2/_catalog?n=1&last=a/b>; rel="next""#)
    }

    @Test(arguments: [("10", 10), ("0", 0), ("1000", 1000), ("1001", 1000), ("99999999999999999999", 1000)] as [(String, Int)])
    func nIsParsedAndClampedToTheMaximum(_ n: String, _ count: Int) throws {
        #expect(try PageRequest(n: n, last: nil).count == count)
    }

    @Test(arguments: ["", "-1", "+1", "1.5", " 1", "ten", "0x10"])
    func nThatIsNotADecimalNumberIsRejected(_ n: String) {
        #expect(throws: RegistryError(.paginationNumberInvalid, detail: ["n": n])) { try PageRequest(n: n, last: nil) }
    }

    @Test func sortingIsBytewise() {
        #expect(["b", "a/b", "a-b", "B", "a", "_x"].sortedBytewise() == ["B", "_x", "a", "a-b", "a/b", "b"])
    }
}
