import Testing

@testable import RegistryCore

@Suite struct ByteRangeTests {
    @Test(
        arguments: [
            (nil, 100, ByteRange.whole),
            ("bytes=0-9", 100, .partial(offset: 0, length: 10)),
            ("bytes=90-", 100, .partial(offset: 90, length: 10)),
            ("bytes=90-1000", 100, .partial(offset: 90, length: 10)),
            ("bytes=99-99", 100, .partial(offset: 99, length: 1)),
            ("bytes=-10", 100, .partial(offset: 90, length: 10)),
            ("bytes=-1000", 100, .partial(offset: 0, length: 100)),
            ("BYTES= 5 - 6 ", 100, .partial(offset: 5, length: 2)),
            ("bytes=100-", 100, .unsatisfiable),
            ("bytes=100-200", 100, .unsatisfiable),
            ("bytes=-0", 100, .unsatisfiable),
            ("bytes=0-", 0, .unsatisfiable),
            ("bytes=-5", 0, .unsatisfiable),
            // Not understood, so ignored: the whole blob is served.
            ("bytes=5-1", 100, .whole),
            ("bytes=0-1,5-6", 100, .whole),
            ("items=0-1", 100, .whole),
            ("bytes=a-b", 100, .whole),
            ("bytes=-", 100, .whole),
            ("bytes=+1-2", 100, .whole),
            ("bytes=99999999999999999999-", 100, .whole),
        ] as [(String?, UInt64, ByteRange)])
    func rangeHeadersResolveAgainstTheSize(_ header: String?, _ size: UInt64, _ expected: ByteRange) {
        #expect(ByteRange(header: header, size: size) == expected)
    }

    @Test func contentRangeHeadersMatchTheAnswer() {
        #expect(ByteRange.partial(offset: 90, length: 10).contentRange(size: 100) == "bytes 90-99/100")
        #expect(ByteRange.unsatisfiable.contentRange(size: 100) == "bytes */100")
        #expect(ByteRange.whole.contentRange(size: 100) == nil)
    }
}

@Suite struct UploadRangeTests {
    @Test(arguments: [("0-9", 0), ("10-19", 10), ("bytes 10-19", 10), ("bytes=10-19", 10), (" 10-19 ", 10)] as [(String, UInt64)])
    func chunksStartingAtTheCurrentSizeAreAccepted(_ header: String, _ size: UInt64) throws {
        let range = try UploadRange(header: header, currentSize: size, contentLength: 10)
        #expect(range.start == size)
        #expect(range.length == 10)
    }

    @Test(arguments: [("5-9", 0), ("0-9", 10), ("11-20", 10)] as [(String, UInt64)])
    func chunksOutOfOrderAreRangeInvalid(_ header: String, _ size: UInt64) {
        #expect(throws: RegistryError(.rangeInvalid, message: "chunk out of order", detail: ["expected start": String(size)])) {
            try UploadRange(header: header, currentSize: size, contentLength: nil)
        }
    }

    @Test(arguments: ["", "9-0", "a-b", "0-", "-9", "0-9-10", "bytes */10", "0-9/10"])
    func malformedContentRangesAreRangeInvalid(_ header: String) {
        do {
            _ = try UploadRange(header: header, currentSize: 0, contentLength: nil)
            Issue.record("accepted \(header)")
        } catch {
            #expect(error.code == .rangeInvalid)
            #expect(error.status == 416)
        }
    }

    @Test func aContentLengthThatDisagreesIsSizeInvalid() {
        #expect(throws: RegistryError(.sizeInvalid, message: "Content-Length does not match Content-Range")) {
            try UploadRange(header: "0-9", currentSize: 0, contentLength: 11)
        }
    }

    @Test(arguments: [(0, "0-0"), (1, "0-0"), (10, "0-9")] as [(UInt64, String)])
    func theReportedRangeIsInclusive(_ size: UInt64, _ header: String) {
        #expect(UploadRange.rangeHeader(size: size) == header)
    }
}
