import Testing

@testable import RegistryCore

@Suite struct RepositoryNameTests {
    static let valid = [
        "a", "library/ubuntu", "a/b/c/d", "foo.bar", "foo_bar", "foo__bar", "foo-bar", "foo---bar", "a0/b1-c2.d3__e4",
        "0", String(repeating: "a", count: 255), "a.b.c", "abc",
    ]
    static let invalid = [
        "", "A", "Library/ubuntu", "/a", "a/", "a//b", "a/../b", "..", ".", "a/./b", "_a", "a_", "a___b", "a.-b", "a-.b", "a..b",
        "-a", "a-", ".a", "a.", "a/_layers", "a b", "a%2fb", "a\\b", "é", "a:b", "a/-b", String(repeating: "a", count: 256),
        "a/" + String(repeating: "b", count: 254),
    ]

    @Test(arguments: valid)
    func validNamesAreAccepted(_ name: String) throws {
        #expect(RepositoryName.isValid(name))
        #expect(try RepositoryName(validating: name).value == name)
    }

    @Test(arguments: invalid)
    func invalidNamesAreRejectedAsNameInvalid(_ name: String) {
        #expect(!RepositoryName.isValid(name))
        #expect(throws: RegistryError.self) { try RepositoryName(validating: name) }
        do {
            _ = try RepositoryName(validating: name)
        } catch {
            #expect(error.code == .nameInvalid)
        }
    }

    @Test func componentsSplitOnSlash() throws {
        #expect(try RepositoryName(validating: "a/b.c/d").components == ["a", "b.c", "d"])
    }
}

@Suite struct TagTests {
    @Test(arguments: ["latest", "v1.0.0", "_private", "A-b_c.d", "0", String(repeating: "t", count: 128)])
    func validTagsAreAccepted(_ tag: String) {
        #expect(RegistryCore.Tag.isValid(tag))
    }

    @Test(arguments: ["", ".", "..", ".hidden", "-dash", "a/b", "a:b", "a b", "é", String(repeating: "t", count: 129)])
    func invalidTagsAreRejected(_ tag: String) {
        #expect(!RegistryCore.Tag.isValid(tag))
        #expect(throws: RegistryError(.manifestInvalid, message: "invalid tag", detail: ["tag": String(tag.prefix(129))])) {
            try RegistryCore.Tag(validating: tag)
        }
    }
}

@Suite struct UploadIDTests {
    @Test func lowercaseUUIDsAreAccepted() {
        #expect(UploadID.isValid("0f8fad5b-d9cb-469f-a165-70867728950e"))
    }

    @Test(arguments: [
        "", "0F8FAD5B-D9CB-469F-A165-70867728950E", "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5bd9cb-469f-a165-70867728950e0",
        "../../../../etc/passwd-aaaaaaaaaaaaa", "0f8fad5b-d9cb-469f-a165-70867728950g",
    ])
    func anythingElseIsAnUnknownUpload(_ id: String) {
        #expect(!UploadID.isValid(id))
    }
}
