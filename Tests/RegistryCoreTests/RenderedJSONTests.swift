import Foundation
import Testing

@testable import RegistryCore

/// Hand-rolled JSON checked against a real decoder, with hostile strings.
@Suite struct RenderedJSONDecodesTests {
    struct ErrorBody: Decodable {
        struct Entry: Decodable {
            var code: String
            var message: String
            var detail: [String: String]?
        }
        var errors: [Entry]
    }

    static let hostile = [
        "plain", "quote\" and \\ backslash", "controls \u{0}\u{1}\u{1F}\n\r\t\u{8}\u{C}", "unicode é ✓ 𝄞", "</script>",
    ]

    @Test(arguments: hostile)
    func errorBodiesDecodeToWhatWasRendered(_ text: String) throws {
        let error = RegistryError(.manifestInvalid, message: text, detail: [text: text])
        let decoded = try JSONDecoder().decode(ErrorBody.self, from: Data(error.jsonBody.utf8))
        #expect(decoded.errors.count == 1)
        #expect(decoded.errors.first?.code == "MANIFEST_INVALID")
        #expect(decoded.errors.first?.message == text)
        #expect(decoded.errors.first?.detail == [text: text])
    }

    struct Tags: Decodable {
        var name: String
        var tags: [String]
    }

    @Test func tagListsDecode() throws {
        let body = ResponseBody.tagList(name: try RepositoryName(validating: "a/b"), tags: ["v1", "_x"])
        let decoded = try JSONDecoder().decode(Tags.self, from: Data(body.utf8))
        #expect(decoded.name == "a/b")
        #expect(decoded.tags == ["v1", "_x"])
    }
}
