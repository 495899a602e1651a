import NBDProtocol
import Testing

/// The option header decides, before any payload is read, whether the
/// payload may be held in memory.
@Suite("Option headers and oversized payloads")
struct OptionAdmissionTests {
    static func header(_ option: UInt32, length: UInt32, magic: UInt64 = Magic.option) -> [UInt8] {
        bigEndian(magic) + bigEndian(option) + bigEndian(length)
    }

    @Test func aPayloadUpToTheLimitIsRead() {
        let negotiation = Negotiation(directory: Directory())
        let admission = negotiation.admitOption(header: Self.header(7, length: ProtocolLimits.optionLengthMaximum))
        #expect(admission == .read(option: 7, length: ProtocolLimits.optionLengthMaximum))
    }

    @Test(arguments: [ProtocolLimits.optionLengthMaximum + 1, 1 << 20, ProtocolLimits.optionDrainMaximum])
    func anOversizedPayloadIsSkippedThenRefusedWithErrTooBig(length: UInt32) {
        let negotiation = Negotiation(directory: Directory())
        guard case let .skipThenReply(skipped, reply) = negotiation.admitOption(header: Self.header(7, length: length)) else {
            Issue.record("a \(length)-byte option was not skipped")
            return
        }
        #expect(skipped == length)
        let frames = OptionReplyFrame.split(reply)
        #expect(frames?.map(\.type) == [OptionReply.errorTooBig.rawValue])
        #expect(frames?.first?.option == 7)
    }

    @Test(arguments: [ProtocolLimits.optionDrainMaximum + 1, UInt32.max])
    func aPayloadTooLargeEvenToSkipClosesTheConnection(length: UInt32) {
        let negotiation = Negotiation(directory: Directory())
        guard case .close = negotiation.admitOption(header: Self.header(3, length: length)) else {
            Issue.record("a \(length)-byte option was not refused outright")
            return
        }
    }

    /// EXPORT_NAME has no error reply, so an oversized one can only be closed.
    @Test func anOversizedExportNameClosesTheConnection() {
        let negotiation = Negotiation(directory: Directory())
        guard case .close = negotiation.admitOption(header: Self.header(1, length: ProtocolLimits.optionLengthMaximum + 1))
        else {
            Issue.record("an oversized EXPORT_NAME was not refused")
            return
        }
    }

    @Test func aBadOptionMagicClosesTheConnection() {
        let negotiation = Negotiation(directory: Directory())
        guard case .close = negotiation.admitOption(header: Self.header(7, length: 0, magic: 0x4948_4156_454F_5055)) else {
            Issue.record("a bad option magic was admitted")
            return
        }
    }

    @Test func everyTruncatedHeaderClosesRatherThanTraps() {
        let negotiation = Negotiation(directory: Directory())
        let header = Self.header(7, length: 0)
        for length in 0..<header.count {
            guard case .close = negotiation.admitOption(header: Array(header.prefix(length))) else {
                Issue.record("a \(length)-byte option header was admitted")
                continue
            }
        }
    }
}
