import NBDProtocol
import Testing

@Suite("Reply header encoders")
struct ReplyHeaderTests {
    static let cookie: UInt64 = 0x0102_0304_0506_0708

    /// Runs a pointer-writing encoder into exactly `length` fresh bytes.
    static func written(_ length: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xAA, count: length)
        bytes.withUnsafeMutableBytes { write($0.baseAddress!) }
        return bytes
    }

    @Test func simpleReplyIsMagicErrorCookie() {
        let bytes = Self.written(ReplyHeader.simpleLength) {
            ReplyHeader.writeSimple(into: $0, cookie: Self.cookie, error: .io)
        }
        #expect(bytes == hex("67446698 00000005 0102030405060708"))
    }

    @Test func simpleSuccessReplyHasErrorZero() {
        let bytes = Self.written(16) { ReplyHeader.writeSimple(into: $0, cookie: 7, error: .none) }
        #expect(bytes == hex("67446698 00000000 0000000000000007"))
    }

    @Test func offsetDataHeaderCountsTheOffsetInItsLength() {
        let bytes = Self.written(ReplyHeader.offsetDataLength) {
            ReplyHeader.writeOffsetData(into: $0, cookie: Self.cookie, offset: 0x10_0000, dataLength: 4096)
        }
        #expect(
            bytes
                == hex(
                    """
                    668e33ef 0001 0001  # NBD_STRUCTURED_REPLY_MAGIC, DONE, OFFSET_DATA
                    0102030405060708    # cookie
                    00001008            # 8 + 4096
                    0000000000100000    # offset
                    """))
    }

    @Test func offsetHoleChunkIsTwelveBytesOfOffsetAndLength() {
        let bytes = Self.written(ReplyHeader.offsetHoleLength) {
            ReplyHeader.writeOffsetHole(into: $0, cookie: Self.cookie, offset: 0x10_0000, holeLength: 4096)
        }
        #expect(bytes == hex("668e33ef 0001 0002 0102030405060708 0000000c 0000000000100000 00001000"))
    }

    @Test func errorChunkCarriesTheErrorAndAMessage() {
        let bytes = ReplyHeader.structuredError(cookie: Self.cookie, error: .invalid, message: "bad")
        #expect(
            bytes
                == hex(
                    """
                    668e33ef 0001 8001  # DONE, NBD_REPLY_TYPE_ERROR
                    0102030405060708
                    00000009            # 4 + 2 + 3
                    00000016 0003 626164  # EINVAL, message length 3, "bad"
                    """))
    }

    @Test func errorChunkMessageIsCappedAtTheStringLimit() {
        let bytes = ReplyHeader.structuredError(cookie: 1, error: .io, message: String(repeating: "x", count: 10_000))
        #expect(bytes.count == ReplyHeader.structuredLength + 6 + 4096)
        #expect(Array(bytes[16..<20]) == bigEndian(UInt32(6 + 4096)))
        #expect(Array(bytes[24..<26]) == bigEndian(UInt16(4096)))
    }

    @Test func blockStatusChunkIsContextIDThenDescriptors() {
        let bytes = ReplyHeader.blockStatus(
            cookie: Self.cookie, contextID: 1, descriptors: [(length: 4096, flags: 0), (length: 8192, flags: 3)])
        #expect(
            bytes
                == hex(
                    """
                    668e33ef 0001 0005  # DONE, NBD_REPLY_TYPE_BLOCK_STATUS
                    0102030405060708
                    00000014            # 4 + 2 * 8
                    00000001            # base:allocation
                    00001000 00000000   # 4096 bytes of data
                    00002000 00000003   # 8192 bytes of hole that reads as zeros
                    """))
    }
}
