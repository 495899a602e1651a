import NBDProtocol
import Testing

@Suite("Request headers")
struct RequestHeaderTests {
    /// A WRITE with FUA of 4096 bytes at sector 2048, as the Linux kernel
    /// sends it: the flags in the high half of the 32-bit type field, the
    /// cookie made of a sequence number (1) and a tag (7).
    static let kernelWrite = hex(
        """
        25609513          # NBD_REQUEST_MAGIC
        0001 0001         # NBD_CMD_FLAG_FUA, NBD_CMD_WRITE
        0000000100000007  # cookie
        0000000000100000  # offset 1 MiB
        00001000          # length 4096
        """)

    /// A FLUSH from the kernel: offset and length are zero.
    static let kernelFlush = hex("25609513 0000 0003 0000000200000008 0000000000000000 00000000")

    static func decode(_ bytes: [UInt8]) throws(Request.DecodeError) -> Request {
        precondition(bytes.count == ProtocolLimits.requestHeaderLength)
        return try bytes.withUnsafeBytes { buffer in
            Result { () throws(Request.DecodeError) in try Request.decode(buffer.baseAddress!) }
        }.get()
    }

    @Test func kernelWriteHeaderDecodesFieldByField() throws {
        let request = try Self.decode(Self.kernelWrite)
        #expect(request == Request(.write, flags: .fua, cookie: 0x0000_0001_0000_0007, offset: 0x10_0000, length: 4096))
        #expect(request.command == .write)
        #expect(request.hasPayload)
    }

    @Test func kernelFlushHeaderDecodes() throws {
        let request = try Self.decode(Self.kernelFlush)
        #expect(request == Request(.flush, cookie: 0x0000_0002_0000_0008))
        #expect(!request.hasPayload)
    }

    @Test func encodingIsTheSameTwentyEightBytes() {
        let request = Request(.write, flags: .fua, cookie: 0x0000_0001_0000_0007, offset: 0x10_0000, length: 4096)
        #expect(request.encoded() == Self.kernelWrite)
        #expect(request.encoded().count == ProtocolLimits.requestHeaderLength)
    }

    @Test func anUnknownCommandDecodesWithNoCommand() throws {
        let request = try Self.decode(hex("25609513 0000 0008 0000000000000001 0000000000000000 00000000"))
        #expect(request.type == 8)
        #expect(request.command == nil)
        #expect(!request.hasPayload)
    }

    @Test(arguments: [
        hex("67446698"),  // a simple reply's magic sent back
        hex("25609512"),
        hex("00000000"),
        hex("13956025"),  // the right magic in little-endian order
    ])
    func aBadMagicIsRejectedWithTheMagicSeen(magic: [UInt8]) {
        let header = magic + Array(Self.kernelWrite.dropFirst(4))
        #expect(throws: Request.DecodeError.badMagic(header.prefix(4).reduce(0) { $0 << 8 | UInt32($1) })) {
            try Self.decode(header)
        }
    }
}
