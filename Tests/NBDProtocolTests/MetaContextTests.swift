import NBDProtocol
import Testing

@Suite("NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT")
struct MetaContextTests {
    /// SET_META_CONTEXT "disk" base:allocation, as qemu and libnbd send it.
    static let setBaseAllocation = hex(
        """
        49484156454f5054 0000000a 0000001f  # IHAVEOPT, NBD_OPT_SET_META_CONTEXT, 31 bytes
        00000004 6469736b                   # export "disk"
        00000001                            # one query
        0000000f 626173653a616c6c6f636174696f6e  # "base:allocation"
        """)

    static func structured() -> Transcript {
        var transcript = Transcript()
        _ = transcript.reply(to: optionFrame(Option.structuredReply.rawValue))
        return transcript
    }

    @Test func setBaseAllocationRepliesWithItsContextIDThenAckAndEnablesBlockStatus() {
        var transcript = Self.structured()
        #expect(
            hexString(transcript.reply(to: Self.setBaseAllocation))
                == hexString(
                    hex(
                        """
                        0003e889045565a9 0000000a 00000004 00000013  # NBD_REP_META_CONTEXT, 19 bytes
                        00000001 626173653a616c6c6f636174696f6e      # id 1, "base:allocation"
                        0003e889045565a9 0000000a 00000001 00000000  # NBD_REP_ACK
                        """)))
        guard case let .startTransmission(session, _) = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("GO did not start transmission")
            return
        }
        #expect(session.structuredReplies && session.baseAllocation)
    }

    /// The spec reserves the id in LIST replies: it SHOULD be zero.
    @Test func listWithNoQueriesListsBaseAllocationWithIDZero() {
        var transcript = Self.structured()
        let list = optionFrame(Option.listMetaContext.rawValue, hex("00000004") + utf8("disk") + hex("00000000"))
        #expect(
            hexString(transcript.reply(to: list))
                == hexString(
                    hex(
                        """
                        0003e889045565a9 00000009 00000004 00000013  00000000 626173653a616c6c6f636174696f6e
                        0003e889045565a9 00000009 00000001 00000000
                        """)))
    }

    @Test func listDoesNotSelectAnything() {
        var transcript = Self.structured()
        var list = Self.setBaseAllocation
        list[11] = 9
        #expect(replyTypes(transcript.reply(to: list)) == [OptionReply.metaContext.rawValue, OptionReply.ack.rawValue])
        guard case let .startTransmission(session, _) = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("GO did not start transmission")
            return
        }
        #expect(!session.baseAllocation)
    }

    @Test func setWithAnUnknownContextSelectsNothingAndJustAcks() {
        var transcript = Self.structured()
        let payload = hex("00000004") + utf8("disk") + hex("00000001 00000009") + utf8("qemu:none")
        #expect(replyTypes(transcript.reply(to: optionFrame(10, payload))) == [OptionReply.ack.rawValue])
    }

    @Test(arguments: [Option.listMetaContext, .setMetaContext])
    func metaContextsBeforeStructuredReplyAreErrInvalid(option: Option) {
        var transcript = Transcript()
        var frame = Self.setBaseAllocation
        frame[11] = UInt8(option.rawValue)
        #expect(replyTypes(transcript.reply(to: frame)) == [OptionReply.errorInvalid.rawValue])
    }

    @Test(arguments: [Option.listMetaContext, .setMetaContext])
    func metaContextsForAnUnknownExportAreErrUnknown(option: Option) {
        var transcript = Self.structured()
        let payload = hex("00000004") + utf8("nope") + hex("00000001 0000000f") + utf8("base:allocation")
        #expect(replyTypes(transcript.reply(to: optionFrame(option.rawValue, payload))) == [OptionReply.errorUnknown.rawValue])
    }

    @Test func everyTruncatedPrefixOfASetPayloadIsErrInvalid() {
        let payload = Array(Self.setBaseAllocation.dropFirst(16))
        for length in 0..<payload.count {
            var transcript = Self.structured()
            let reply = transcript.reply(to: optionFrame(10, Array(payload.prefix(length))))
            #expect(replyTypes(reply) == [OptionReply.errorInvalid.rawValue], "prefix of \(length) bytes")
        }
    }

    @Test func aQueryCountLargerThanThePayloadIsErrInvalid() {
        var transcript = Self.structured()
        let payload = hex("00000004") + utf8("disk") + hex("ffffffff 00000001") + utf8("b")
        #expect(replyTypes(transcript.reply(to: optionFrame(10, payload))) == [OptionReply.errorInvalid.rawValue])
    }

    @Test func aLaterSetWithoutBaseAllocationDeselectsIt() {
        var transcript = Self.structured()
        _ = transcript.reply(to: Self.setBaseAllocation)
        _ = transcript.reply(to: optionFrame(10, hex("00000004") + utf8("disk") + hex("00000000")))
        guard case let .startTransmission(session, _) = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("GO did not start transmission")
            return
        }
        #expect(!session.baseAllocation)
    }

    @Test func baseAllocationSelectedForOneExportDoesNotApplyToAnother() {
        var transcript = Self.structured()
        _ = transcript.reply(to: Self.setBaseAllocation)
        let goArchive = optionFrame(7, hex("00000007") + utf8("archive") + hex("0000"))
        guard case let .startTransmission(session, _) = transcript.send(goArchive) else {
            Issue.record("GO did not start transmission")
            return
        }
        #expect(!session.baseAllocation)
    }
}
