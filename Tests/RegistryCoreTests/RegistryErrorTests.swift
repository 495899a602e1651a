import Testing

@testable import RegistryCore

@Suite struct RegistryErrorTests {
    @Test(arguments: [
        (ErrorCode.blobUnknown, 404), (.blobUploadInvalid, 400), (.blobUploadUnknown, 404), (.digestInvalid, 400),
        (.manifestBlobUnknown, 400), (.manifestInvalid, 400), (.manifestUnknown, 404), (.nameInvalid, 400), (.nameUnknown, 404),
        (.sizeInvalid, 400), (.unauthorized, 401), (.denied, 403), (.unsupported, 405), (.tooManyRequests, 429),
        (.rangeInvalid, 416), (.paginationNumberInvalid, 400), (.tagInvalid, 400),
    ])
    func eachCodeHasDistributionsStatus(_ code: ErrorCode, _ status: Int) {
        #expect(code.status == status)
        #expect(RegistryError(code).status == status)
    }

    @Test func codesAreSpelledAsInTheSpec() {
        #expect(
            ErrorCode.allCases.map(\.rawValue) == [
                "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
                "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED",
                "UNSUPPORTED", "TOOMANYREQUESTS", "RANGE_INVALID", "PAGINATION_NUMBER_INVALID", "TAG_INVALID",
            ])
    }

    @Test func bodyWithoutDetailHasNullDetail() {
        let body = RegistryError(.blobUnknown).jsonBody
        #expect(body == #"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":null}]}"#)
    }

    @Test func bodyDetailIsAnObjectWithSortedKeys() {
        let error = RegistryError(.digestInvalid, message: "m", detail: ["z": "1", "a": "2"])
        #expect(error.jsonBody == #"{"errors":[{"code":"DIGEST_INVALID","message":"m","detail":{"a":"2","z":"1"}}]}"#)
    }

    @Test(arguments: [
        ("plain", #""plain""#), ("a\"b", #""a\"b""#), ("back\\slash", #""back\\slash""#), ("line\nbreak\r\t", #""line\nbreak\r\t""#),
        ("\u{01}\u{1F}", #""\u0001\u001f""#), ("\u{08}\u{0C}", #""\b\f""#), ("é✓", "\"é✓\""), ("</script>", #""</script>""#),
    ])
    func stringsAreEscapedForJSON(_ input: String, _ expected: String) {
        #expect(JSONText.quoted(input) == expected)
    }

    @Test func severalErrorsShareOneBody() {
        let body = RegistryError.jsonBody([RegistryError(.denied, message: "a"), RegistryError(.unauthorized, message: "b")])
        #expect(body == #"{"errors":[{"code":"DENIED","message":"a","detail":null},{"code":"UNAUTHORIZED","message":"b","detail":null}]}"#)
    }
}
