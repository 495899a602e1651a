import NBDProtocol
import Testing

@Suite("LIST, ABORT, STRUCTURED_REPLY and unknown options")
struct OptionTests {
    @Test func listSendsOneServerReplyPerExportWithItsDescriptionThenAck() {
        var transcript = Transcript()
        let reply = transcript.reply(to: hex("49484156454f5054 00000003 00000000"))
        #expect(
            hexString(reply)
                == hexString(
                    hex(
                        """
                        0003e889045565a9 00000003 00000002 0000000f  # NBD_REP_SERVER, 15 bytes
                        00000004 6469736b 73637261746368             # "disk", description "scratch"
                        0003e889045565a9 00000003 00000002 0000000b  # NBD_REP_SERVER, 11 bytes
                        00000007 61726368697665                      # "archive", no description
                        0003e889045565a9 00000003 00000001 00000000  # NBD_REP_ACK
                        """)))
    }

    @Test func listWithAPayloadIsErrInvalid() {
        var transcript = Transcript()
        #expect(replyTypes(transcript.reply(to: optionFrame(3, [0]))) == [OptionReply.errorInvalid.rawValue])
    }

    @Test func abortIsAcknowledgedThenTheConnectionCloses() {
        var transcript = Transcript()
        guard case let .sendAndClose(bytes, _) = transcript.send(hex("49484156454f5054 00000002 00000000")) else {
            Issue.record("ABORT did not end the negotiation")
            return
        }
        #expect(bytes == hex("0003e889045565a9 00000002 00000001 00000000"))
    }

    @Test func structuredReplyIsAcknowledged() {
        var transcript = Transcript()
        #expect(
            transcript.reply(to: hex("49484156454f5054 00000008 00000000"))
                == hex("0003e889045565a9 00000008 00000001 00000000"))
    }

    @Test func structuredReplyWithAPayloadIsErrInvalidAndNotNegotiated() {
        var transcript = Transcript()
        #expect(replyTypes(transcript.reply(to: optionFrame(8, [1, 2]))) == [OptionReply.errorInvalid.rawValue])
        guard case let .startTransmission(session, _) = transcript.send(optionFrame(1, utf8("disk"))) else {
            Issue.record("EXPORT_NAME did not start transmission")
            return
        }
        #expect(!session.structuredReplies)
    }

    @Test(arguments: [UInt32(0), 12, 0x1234, 0x8000_0000, 0xffff_ffff])
    func unknownOptionsAreErrUnsupEchoingTheOptionAndNegotiationContinues(code: UInt32) {
        var transcript = Transcript()
        let reply = transcript.reply(to: optionFrame(code, [9, 9, 9]))
        let frames = OptionReplyFrame.split(reply)
        #expect(frames?.map(\.type) == [OptionReply.errorUnsupported.rawValue])
        #expect(frames?.first?.option == code)
        #expect(replyTypes(transcript.reply(to: optionFrame(8))) == [OptionReply.ack.rawValue])
    }

    // STARTTLS on a server without TLS is ERR_POLICY: StartTLSTests.
    @Test(arguments: [Option.peekExport, .extendedHeaders])
    func optionsThisServerDoesNotImplementAreErrUnsup(option: Option) {
        var transcript = Transcript()
        #expect(replyTypes(transcript.reply(to: optionFrame(option.rawValue))) == [OptionReply.errorUnsupported.rawValue])
    }

    @Test func errorMessagesAreCappedAtTheStringLimit() {
        let reply = Negotiation.reply(1, .errorInvalid, message: String(repeating: "m", count: 5000))
        #expect(reply.count == 20 + ProtocolLimits.stringMaximum)
        #expect(Array(reply[16..<20]) == bigEndian(UInt32(ProtocolLimits.stringMaximum)))
    }
}
