import NBDProtocol
import Testing

@Suite("NBD_OPT_INFO and NBD_OPT_GO")
struct InfoGoTests {
    /// GO "disk" asking for NAME, DESCRIPTION and BLOCK_SIZE, as libnbd sends
    /// it with full info requested.
    static let goDisk = hex(
        """
        49484156454f5054 00000007 00000010  # IHAVEOPT, NBD_OPT_GO, 16 bytes
        00000004 6469736b                   # name length, "disk"
        0003 0001 0002 0003                 # 3 requests: NAME, DESCRIPTION, BLOCK_SIZE
        """)

    /// The replies to ``goDisk`` before structured replies: one NBD_REP_INFO
    /// per item, then NBD_REP_ACK.
    static let goDiskRepliesText = """
        0003e889045565a9 00000007 00000003 0000000c  # NBD_REP_INFO, 12 bytes
        0000 0000000000100000 006d                   # NBD_INFO_EXPORT: size, flags
        0003e889045565a9 00000007 00000003 00000006  # NBD_REP_INFO, 6 bytes
        0001 6469736b                                # NBD_INFO_NAME "disk"
        0003e889045565a9 00000007 00000003 00000009  # NBD_REP_INFO, 9 bytes
        0002 73637261746368                          # NBD_INFO_DESCRIPTION "scratch"
        0003e889045565a9 00000007 00000003 0000000e  # NBD_REP_INFO, 14 bytes
        0003 00000001 00001000 02000000              # NBD_INFO_BLOCK_SIZE: 1, 4096, 32 MiB
        0003e889045565a9 00000007 00000001 00000000  # NBD_REP_ACK
        """
    static let goDiskReplies = hex(goDiskRepliesText)

    @Test func goRepliesWithEveryRequestedInfoItemByteForByteThenStartsTransmission() {
        var transcript = Transcript()
        guard case let .startTransmission(session, reply) = transcript.send(Self.goDisk) else {
            Issue.record("GO did not start transmission")
            return
        }
        #expect(hexString(reply) == hexString(Self.goDiskReplies))
        #expect(session == NegotiatedSession(export: Directory.disk, structuredReplies: false, baseAllocation: false))
    }

    @Test func infoSendsTheSameRepliesAsGoButKeepsNegotiating() {
        var transcript = Transcript()
        var info = Self.goDisk
        info[11] = 6  // NBD_OPT_INFO
        // The same replies, each naming option 6 instead of 7.
        let expected = hex(Self.goDiskRepliesText.replacing("00000007", with: "00000006"))
        #expect(hexString(transcript.reply(to: info)) == hexString(expected))
        // Still negotiating: a GO afterwards starts transmission.
        guard case .startTransmission = transcript.send(Self.goDisk) else {
            Issue.record("GO after INFO did not start transmission")
            return
        }
    }

    @Test func goWithNoRequestsStillSendsExportAndBlockSizeForTheDefaultExport() {
        var transcript = Transcript()
        let go = hex("49484156454f5054 00000007 00000006  00000000  0000")
        guard case let .startTransmission(session, reply) = transcript.send(go) else {
            Issue.record("GO \"\" did not start transmission")
            return
        }
        #expect(session.export.name == "disk")
        #expect(
            hexString(reply)
                == hexString(
                    hex(
                        """
                        0003e889045565a9 00000007 00000003 0000000c  0000 0000000000100000 006d
                        0003e889045565a9 00000007 00000003 0000000e  0003 00000001 00001000 02000000
                        0003e889045565a9 00000007 00000001 00000000
                        """)))
    }

    @Test func goAfterStructuredReplyAdvertisesDF() {
        var transcript = Transcript()
        _ = transcript.reply(to: optionFrame(Option.structuredReply.rawValue))
        guard case let .startTransmission(session, reply) = transcript.send(Self.goDisk) else {
            Issue.record("GO did not start transmission")
            return
        }
        #expect(Array(reply[20..<32]) == hex("0000 0000000000100000 00ed"))
        #expect(session.structuredReplies)
        #expect(session.export.flags.contains(.sendDF))
    }

    @Test func anEmptyDescriptionIsNotSentEvenWhenAskedFor() {
        var transcript = Transcript()
        let go = optionFrame(7, hex("00000007") + utf8("archive") + hex("0001 0002"))
        guard case let .startTransmission(_, reply) = transcript.send(go) else {
            Issue.record("GO \"archive\" did not start transmission")
            return
        }
        let frames = OptionReplyFrame.split(reply) ?? []
        #expect(frames.map(\.type) == [3, 3, 1])
        #expect(frames.first?.data == hex("0000 0000000000002000 0003"))
    }

    @Test(arguments: [Option.info, Option.go])
    func unknownExportIsErrUnknownAndNegotiationContinues(option: Option) {
        var transcript = Transcript()
        let reply = transcript.reply(to: optionFrame(option.rawValue, hex("00000004") + utf8("nope") + hex("0000")))
        #expect(replyTypes(reply) == [OptionReply.errorUnknown.rawValue])
        #expect(Array(reply[8..<12]) == bigEndian(option.rawValue))
    }

    /// Every proper prefix of a valid payload is malformed: the name length
    /// outruns the bytes, or the request count does.
    @Test(arguments: [Option.info, Option.go])
    func everyTruncatedPrefixOfThePayloadIsErrInvalidAndNeverATrap(option: Option) {
        let payload = Array(Self.goDisk.dropFirst(16))
        for length in 0..<payload.count {
            var transcript = Transcript()
            let reply = transcript.reply(to: optionFrame(option.rawValue, Array(payload.prefix(length))))
            #expect(replyTypes(reply) == [OptionReply.errorInvalid.rawValue], "prefix of \(length) bytes")
        }
    }

    @Test(arguments: [1, 2, 3])
    func trailingBytesAfterTheRequestsAreErrInvalid(extra: Int) {
        var transcript = Transcript()
        let payload = Array(Self.goDisk.dropFirst(16)) + [UInt8](repeating: 0, count: extra)
        #expect(replyTypes(transcript.reply(to: optionFrame(7, payload))) == [OptionReply.errorInvalid.rawValue])
    }

    @Test func aNameLengthOverTheStringLimitIsErrInvalid() {
        var transcript = Transcript()
        let name = [UInt8](repeating: UInt8(ascii: "x"), count: 4097)
        let payload = hex("00001001") + name + hex("0000")
        #expect(replyTypes(transcript.reply(to: optionFrame(7, payload))) == [OptionReply.errorInvalid.rawValue])
    }

    @Test func aNameLengthNearUInt32MaxIsErrInvalid() {
        var transcript = Transcript()
        #expect(replyTypes(transcript.reply(to: optionFrame(7, hex("ffffffff 0000")))) == [OptionReply.errorInvalid.rawValue])
    }
}
