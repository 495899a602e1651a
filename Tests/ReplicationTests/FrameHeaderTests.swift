import Replication
import Testing

@Suite("Replication frame header")
struct FrameHeaderTests {
    @Test func aWriteHeaderHasTheDocumentedLayout() {
        let header = FrameHeader(.write, flags: .fua, tag: 7, offset: 0x1000, length: 512, checksum: 0xDEAD_BEEF, payloadLength: 512)
        #expect(
            header.encoded == [
                0x42, 0x52, 0x50, 0x4C, 0x00, 0x04, 0x00, 0x01,
                0, 0, 0, 0, 0, 0, 0, 7,
                0, 0, 0, 0, 0, 0, 0x10, 0x00,
                0, 0, 0x02, 0x00, 0xDE, 0xAD, 0xBE, 0xEF,
                0, 0, 0x02, 0x00, 0, 0, 0, 0,
            ])
        let decoded = header.encoded.withUnsafeBytes { try? FrameHeader(decoding: $0) }
        #expect(decoded == header)
    }

    static let malformed: [(String, @Sendable (inout [UInt8]) -> Void)] = [
        ("bad magic", { $0[0] = 0x41 }),
        ("unknown type", { $0[5] = 99 }),
        ("unknown flag", { $0[7] = 0x80 }),
        ("reserved field set", { $0[39] = 1 }),
        ("data length differs from payload", { $0[35] = 0x01 }),
        (
            "empty write",
            { bytes in
                for index in 24..<28 { bytes[index] = 0 }; for index in 32..<36 { bytes[index] = 0 }
            }
        ),
    ]

    @Test(arguments: 0..<malformed.count)
    func aBrokenHeaderIsRefusedWithItsReason(_ index: Int) {
        var bytes = FrameHeader(.write, tag: 1, offset: 0, length: 512, checksum: 0, payloadLength: 512).encoded
        Self.malformed[index].1(&bytes)
        #expect(throws: ReplicationError.self, "\(Self.malformed[index].0)") { try bytes.withUnsafeBytes { try FrameHeader(decoding: $0) } }
    }

    @Test func framesWithoutPayloadMayNotCarryOne() {
        let bytes = FrameHeader(.flush, tag: 1, payloadLength: 4).encoded
        #expect(throws: ReplicationError.self) { try bytes.withUnsafeBytes { try FrameHeader(decoding: $0) } }
    }

    @Test func anOversizedWriteIsRefused() {
        let length = UInt32(FrameHeader.maxData + 1)
        let bytes = FrameHeader(.write, tag: 1, length: length, payloadLength: length).encoded
        #expect(throws: ReplicationError.self) { try bytes.withUnsafeBytes { try FrameHeader(decoding: $0) } }
    }

    /// A TLS ClientHello (a primary with --peer-psk) or alert (a replica
    /// with one) where a frame should be: the refusal says which.
    @Test(arguments: [[0x16, 0x03, 0x01, 0x02], [0x15, 0x03, 0x03, 0x00]] as [[UInt8]])
    func aTLSRecordIsNamedAsSuch(_ start: [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes.replaceSubrange(0..<4, with: start)
        do {
            _ = try bytes.withUnsafeBytes { try FrameHeader(decoding: $0) }
            Issue.record("a TLS record decoded as a frame")
        } catch {
            #expect("\(error)".contains("the peer speaks TLS"), "\(error)")
        }
    }
}
