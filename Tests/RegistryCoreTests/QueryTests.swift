import Testing

@testable import RegistryCore

@Suite struct QueryTests {
    @Test(arguments: [
        ("a=1&b=2", "a", "1"), ("a=1&a=2", "a", "1"), ("a=x%2Fy", "a", "x/y"), ("a=x+y", "a", "x y"), ("a=%e2%9c%93", "a", "✓"),
        ("a", "a", ""), ("a=", "a", ""), ("&&a=1&&", "a", "1"), ("a=b=c", "a", "b=c"), ("k%61y=v", "kay", "v"),
    ])
    func valuesAreDecodedLikeGo(_ raw: String, _ name: String, _ value: String) {
        #expect(Query(parsing: raw)[name] == value)
    }

    @Test(arguments: ["a=%", "a=%4", "a=%zz", "a=%ff"])
    func pairsWithBrokenEscapesAreDropped(_ raw: String) {
        #expect(Query(parsing: raw)["a"] == nil)
    }

    @Test(arguments: [
        ("tag=a&tag=b", ["a", "b"]), ("tag=b&x=1&tag=a", ["b", "a"]), ("tag=", [""]), ("x=1", []), ("tag=%zz&tag=c", ["c"]),
    ])
    func everyValueOfARepeatedNameIsKeptInOrder(_ raw: String, _ values: [String]) {
        #expect(Query(parsing: raw).values("tag") == values)
    }

    @Test func absentNamesAreNil() {
        #expect(Query(parsing: "")["a"] == nil)
    }

    @Test(arguments: [("a/b", "a/b"), ("v1.0_x-y~", "v1.0_x-y~"), ("a b&c=d", "a%20b%26c%3Dd"), ("✓", "%E2%9C%93")])
    func encodingKeepsUnreservedCharacters(_ input: String, _ expected: String) {
        #expect(Query.percentEncoded(input) == expected)
        #expect(Query.percentDecoded(expected) == input)
    }
}
