import NBDProtocol
import Testing

@Suite("NBD_OPT_EXPORT_NAME")
struct ExportNameTests {
    /// EXPORT_NAME "disk", as nbd-client and old qemu send it.
    static let exportNameDisk = hex("49484156454f5054 00000001 00000004 6469736b")

    @Test func exportNameWithNoZeroesRepliesWithSizeAndFlagsOnly() {
        var transcript = Transcript(clientFlags: [.fixedNewstyle, .noZeroes])
        guard case let .startTransmission(session, reply) = transcript.send(Self.exportNameDisk) else {
            Issue.record("EXPORT_NAME did not start transmission")
            return
        }
        #expect(reply == hex("0000000000100000 006d"))
        #expect(session.export == Directory.disk)
        #expect(!session.structuredReplies)
        #expect(!session.baseAllocation)
    }

    @Test func exportNameWithoutNoZeroesAppends124ZeroBytes() {
        var transcript = Transcript(clientFlags: [.fixedNewstyle])
        guard case let .startTransmission(_, reply) = transcript.send(Self.exportNameDisk) else {
            Issue.record("EXPORT_NAME did not start transmission")
            return
        }
        #expect(reply == hex("0000000000100000 006d") + [UInt8](repeating: 0, count: 124))
        #expect(reply.count == 134)
    }

    @Test func exportNameFromANonFixedNewstyleClientIsServed() {
        var transcript = Transcript(clientFlags: [])
        guard case let .startTransmission(_, reply) = transcript.send(Self.exportNameDisk) else {
            Issue.record("EXPORT_NAME did not start transmission")
            return
        }
        #expect(reply.count == 134)
    }

    @Test func emptyExportNameSelectsTheDefaultExport() {
        var transcript = Transcript()
        guard case let .startTransmission(session, reply) = transcript.send(hex("49484156454f5054 00000001 00000000"))
        else {
            Issue.record("EXPORT_NAME \"\" did not start transmission")
            return
        }
        #expect(session.export.name == "disk")
        #expect(reply == hex("0000000000100000 006d"))
    }

    @Test func exportNameAfterStructuredReplyAdvertisesDF() {
        var transcript = Transcript()
        _ = transcript.reply(to: optionFrame(Option.structuredReply.rawValue))
        guard case let .startTransmission(session, reply) = transcript.send(Self.exportNameDisk) else {
            Issue.record("EXPORT_NAME did not start transmission")
            return
        }
        #expect(reply == hex("0000000000100000 00ed"))
        #expect(session.structuredReplies)
    }

    @Test func unknownExportNameClosesWithoutAReplyBecauseItCannotCarryAnError() {
        var transcript = Transcript()
        guard case let .sendAndClose(bytes, _) = transcript.send(optionFrame(1, utf8("nope"))) else {
            Issue.record("an unknown export was served")
            return
        }
        #expect(bytes.isEmpty)
    }

    @Test func exportNameLongerThanTheStringLimitCloses() {
        var transcript = Transcript()
        let name = [UInt8](repeating: UInt8(ascii: "d"), count: ProtocolLimits.stringMaximum + 1)
        guard case .sendAndClose = transcript.send(optionFrame(1, name)) else {
            Issue.record("a 4097-byte export name was accepted")
            return
        }
    }
}
