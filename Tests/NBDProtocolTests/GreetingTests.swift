import NBDProtocol
import Testing

@Suite("Greeting and client flags")
struct GreetingTests {
    @Test func greetingIsNBDMAGICThenIHAVEOPTThenFixedNewstyleAndNoZeroes() {
        #expect(
            Negotiation.greeting
                == hex(
                    """
                    4e42444d41474943  # NBDMAGIC
                    49484156454f5054  # IHAVEOPT
                    0003              # NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES
                    """))
    }

    @Test(arguments: [UInt32(0), 1, 2, 3])
    func knownClientFlagsAreAccepted(flags: UInt32) {
        var negotiation = Negotiation(directory: Directory())
        #expect(negotiation.receiveClientFlags(flags) == nil)
    }

    @Test(arguments: [UInt32(4), 0x8000_0000, 0xffff_ffff, 0x0000_0103])
    func unknownClientFlagsCloseTheConnectionWithoutAReply(flags: UInt32) {
        var negotiation = Negotiation(directory: Directory())
        guard case let .sendAndClose(bytes, _) = negotiation.receiveClientFlags(flags) else {
            Issue.record("client flags 0x\(String(flags, radix: 16)) were accepted")
            return
        }
        #expect(bytes.isEmpty)
    }

    @Test func aClientWithoutFixedNewstyleIsClosedOnAnyOptionButExportName() {
        var transcript = Transcript(clientFlags: [])
        guard case let .sendAndClose(bytes, _) = transcript.send(optionFrame(Option.list.rawValue)) else {
            Issue.record("LIST from a client without fixed newstyle was answered")
            return
        }
        #expect(bytes.isEmpty)
    }

    @Test func aClientWithoutFixedNewstyleGetsNoErrorReplyForAnUnknownOptionEither() {
        var transcript = Transcript(clientFlags: [])
        guard case let .sendAndClose(bytes, _) = transcript.send(optionFrame(0x4242, [1, 2, 3])) else {
            Issue.record("an unknown option from a client without fixed newstyle got an error reply")
            return
        }
        #expect(bytes.isEmpty)
    }
}
