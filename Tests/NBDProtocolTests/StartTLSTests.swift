import NBDProtocol
import Testing

@Suite("NBD_OPT_STARTTLS and the TLS policies")
struct StartTLSTests {
    static let startTLS = hex("49484156454f5054 00000005 00000000")
    static let startTLSAck = hex("0003e889045565a9 00000005 00000001 00000000")

    /// Every option a client may send before TLS but STARTTLS, ABORT and
    /// EXPORT_NAME, known or not, with a payload it could carry.
    static let refusedBeforeTLS: [(name: String, frame: [UInt8])] = [
        ("LIST", optionFrame(Option.list.rawValue)),
        ("PEEK_EXPORT", optionFrame(Option.peekExport.rawValue)),
        ("INFO", optionFrame(Option.info.rawValue, hex("00000004 6469736b 0000"))),
        ("GO", InfoGoTests.goDisk),
        ("STRUCTURED_REPLY", optionFrame(Option.structuredReply.rawValue)),
        ("LIST_META_CONTEXT", optionFrame(Option.listMetaContext.rawValue, hex("00000004 6469736b 00000000"))),
        ("SET_META_CONTEXT", optionFrame(Option.setMetaContext.rawValue, hex("00000004 6469736b 00000000"))),
        ("EXTENDED_HEADERS", optionFrame(Option.extendedHeaders.rawValue)),
        ("unknown 0x4242", optionFrame(0x4242, [1, 2, 3])),
    ]

    @Test(arguments: refusedBeforeTLS.map(\.name))
    func requireRefusesEveryOtherOptionBeforeTLSWithErrTLSRequired(_ name: String) {
        let frame = Self.refusedBeforeTLS.first { $0.name == name }!.frame
        var transcript = Transcript(tls: .require)
        guard case let .refuse(bytes, reason) = transcript.send(frame) else {
            Issue.record("\(name) before TLS was not refused")
            return
        }
        let replies = OptionReplyFrame.split(bytes)
        #expect(replies?.map(\.type) == [OptionReply.errorTLSRequired.rawValue])
        #expect(replies?.first?.option == UInt32(frame[8]) << 24 | UInt32(frame[9]) << 16 | UInt32(frame[10]) << 8 | UInt32(frame[11]))
        #expect(reason.contains("NBD_REP_ERR_TLS_REQD"))
    }

    @Test func requireClosesOnExportNameBeforeTLSSinceItHasNoErrorReply() {
        var transcript = Transcript(tls: .require)
        guard case let .sendAndClose(bytes, _) = transcript.send(optionFrame(1, utf8("disk"))) else {
            Issue.record("EXPORT_NAME before TLS did not close")
            return
        }
        #expect(bytes.isEmpty)
    }

    @Test func requireClosesOnExportNameFromAClientWithoutFixedNewstyle() {
        var transcript = Transcript(clientFlags: [], tls: .require)
        guard case .sendAndClose = transcript.send(optionFrame(1, utf8("disk"))) else {
            Issue.record("EXPORT_NAME from an old client before TLS did not close")
            return
        }
    }

    @Test func requireStillAcknowledgesAbortBeforeTLS() {
        var transcript = Transcript(tls: .require)
        guard case let .sendAndClose(bytes, _) = transcript.send(hex("49484156454f5054 00000002 00000000")) else {
            Issue.record("ABORT did not end the negotiation")
            return
        }
        #expect(bytes == hex("0003e889045565a9 00000002 00000001 00000000"))
    }

    @Test(arguments: [TLSPolicy.on, .require])
    func startTLSIsAcknowledgedThenGoStartsTransmissionOverTLS(_ policy: TLSPolicy) {
        var transcript = Transcript(tls: policy)
        #expect(transcript.send(Self.startTLS) == .startTLS(reply: Self.startTLSAck))
        transcript.negotiation.tlsEstablished()
        guard case let .startTransmission(session, reply) = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("GO after TLS did not start transmission")
            return
        }
        #expect(session.export.name == "disk")
        #expect(reply == InfoGoTests.goDiskReplies)
    }

    @Test func startTLSTwiceIsErrInvalid() {
        var transcript = Transcript(tls: .require)
        _ = transcript.send(Self.startTLS)
        transcript.negotiation.tlsEstablished()
        #expect(replyTypes(transcript.reply(to: Self.startTLS)) == [OptionReply.errorInvalid.rawValue])
    }

    @Test func startTLSWithAPayloadIsErrInvalidAndStartsNoHandshake() {
        var transcript = Transcript(tls: .require)
        #expect(replyTypes(transcript.reply(to: optionFrame(5, [0]))) == [OptionReply.errorInvalid.rawValue])
        // Still before TLS: GO is refused.
        guard case .refuse = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("GO was served without TLS after a malformed STARTTLS")
            return
        }
    }

    @Test func startTLSOnAServerWithoutTLSIsErrPolicy() {
        var transcript = Transcript(tls: .off)
        #expect(replyTypes(transcript.reply(to: Self.startTLS)) == [OptionReply.errorPolicy.rawValue])
    }

    @Test func onServesAPlainClientWithoutTLS() {
        var transcript = Transcript(tls: .on)
        #expect(replyTypes(transcript.reply(to: optionFrame(Option.list.rawValue)))?.last == OptionReply.ack.rawValue)
        guard case .startTransmission = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("a plain client was not served under --tls on")
            return
        }
    }

    @Test func whatWasNegotiatedBeforeTLSIsForgotten() {
        var transcript = Transcript(tls: .on)
        _ = transcript.reply(to: optionFrame(Option.structuredReply.rawValue))
        _ = transcript.reply(to: optionFrame(Option.setMetaContext.rawValue, metaQuery("base:allocation")))
        _ = transcript.send(Self.startTLS)
        transcript.negotiation.tlsEstablished()
        guard case let .startTransmission(session, _) = transcript.send(InfoGoTests.goDisk) else {
            Issue.record("GO after TLS did not start transmission")
            return
        }
        #expect(!session.structuredReplies)
        #expect(!session.baseAllocation)
    }

    private func metaQuery(_ query: String) -> [UInt8] {
        var writer = WireWriter()
        writer.append(UInt32(4))
        writer.append(Array("disk".utf8))
        writer.append(UInt32(1))
        writer.append(UInt32(query.utf8.count))
        writer.append(Array(query.utf8))
        return writer.bytes
    }
}
