import Testing

@testable import RegistryCore

/// The `tag` query parameters of `PUT /v2/<name>/manifests/<digest>?tag=`.
@Suite struct TagListTests {
    @Test(arguments: [
        ([], []), (["v1"], ["v1"]), (["1.2.3", "1.2", "1", "latest"], ["1.2.3", "1.2", "1", "latest"]),
        (["b", "a", "b"], ["b", "a"]), (["_x", "A-b.c"], ["_x", "A-b.c"]),
    ])
    func validTagsAreKeptInOrderOnce(_ values: [String], _ expected: [String]) throws {
        #expect(try Tag.list(values).map(\.value) == expected)
    }

    @Test(arguments: [
        ["", "v1"], ["v1", ".hidden"], ["-x"], ["a/b"], ["a:b"], ["v1", String(repeating: "t", count: 129)], ["é"], [".."],
    ])
    func anyInvalidTagRefusesTheWholeList(_ values: [String]) {
        #expect {
            try Tag.list(values)
        } throws: { error in
            (error as? RegistryError)?.code == .tagInvalid && (error as? RegistryError)?.status == 400
        }
    }

    @Test func theLimitIsTakenAndOneMoreIs414() throws {
        let allowed = (0..<Tag.perRequestMaximum).map { "t\($0)" }
        #expect(try Tag.list(allowed).count == Tag.perRequestMaximum)
        // Repeats do not count against the limit.
        #expect(try Tag.list(allowed + allowed).count == Tag.perRequestMaximum)
        #expect {
            try Tag.list(allowed + ["one-more"])
        } throws: { error in
            (error as? RegistryError)?.code == .tagInvalid && (error as? RegistryError)?.status == 414
        }
    }
}
