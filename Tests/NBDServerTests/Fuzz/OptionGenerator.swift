import NBDProtocol
import TestSupport

/// One option during fuzzed option haggling, with the reply the spec
/// requires given what the connection has negotiated so far.
enum OptionGenerator {
    static func step(_ state: inout HandshakeGenerator.State, _ random: inout SeededGenerator) -> HandshakeStep {
        let make = HandshakeGenerator.option
        switch Int.random(in: 0..<16, using: &random) {
        case 0, 1:
            var code = UInt32.random(in: 12...UInt32.max, using: &random)
            if random.chance(0.1) { code = 0 }
            return reply(
                "unknown option \(code)", make(code, random.bytes(Int.random(in: 0...64, using: &random))), code, .errorUnsupported)
        case 2:
            if random.chance(0.3) {
                // This server has no TLS: STARTTLS is refused by policy, payload or not.
                let code = Option.startTLS.rawValue
                return reply(
                    "STARTTLS without TLS", make(code, random.bytes(Int.random(in: 0...16, using: &random))), code, .errorPolicy)
            }
            let code = [Option.peekExport, .extendedHeaders].randomElement(using: &random)!.rawValue
            return reply(
                "unimplemented option \(code)", make(code, random.bytes(Int.random(in: 0...16, using: &random))), code, .errorUnsupported)
        case 3, 4:
            let code = (random.chance(0.5) ? Option.info : .go).rawValue
            let payload = infoPayload("disk", &random)
            return reply(
                "INFO/GO payload cut to", make(code, Array(payload.prefix(Int.random(in: 0..<payload.count, using: &random)))), code,
                .errorInvalid)
        case 5:
            let code = (random.chance(0.5) ? Option.info : .go).rawValue
            let payload = infoPayload("archive", &random) + random.bytes(Int.random(in: 1...5, using: &random))
            return reply("INFO/GO with trailing bytes", make(code, payload), code, .errorInvalid)
        case 6:
            let code = (random.chance(0.5) ? Option.info : .go).rawValue
            return reply("INFO/GO of an unknown export", make(code, infoPayload("nope\(random.next())", &random)), code, .errorUnknown)
        case 7:
            let name = ["", "disk", "archive"].randomElement(using: &random)!
            return reply(
                "INFO \(name)", make(Option.info.rawValue, infoPayload(name, &random)), Option.info.rawValue, .ack, malformed: false)
        case 8:
            return reply("LIST with a payload", make(3, random.bytes(Int.random(in: 1...16, using: &random))), 3, .errorInvalid)
        case 9:
            return reply("LIST", make(3, []), 3, .ack, malformed: false)
        case 10:
            return reply("STRUCTURED_REPLY with a payload", make(8, random.bytes(Int.random(in: 1...8, using: &random))), 8, .errorInvalid)
        case 11:
            state.structured = true
            return reply("STRUCTURED_REPLY", make(8, []), 8, .ack, malformed: false)
        case 12, 13:
            return metaContext(&state, &random)
        default:
            let length = Int.random(in: (Int(ProtocolLimits.optionLengthMaximum) + 1)...200_000, using: &random)
            let code: UInt32 = [3, 6, 7, 8, 9, 10, 0x1234].randomElement(using: &random)!
            return HandshakeStep(
                label: "option \(code) of \(length) bytes",
                send: [.bytes(HandshakeGenerator.header(code, length: UInt32(length))), .filler(count: length, byte: 0x41)],
                isMalformed: true, expect: .replies(option: code, final: .errorTooBig))
        }
    }

    private static func metaContext(_ state: inout HandshakeGenerator.State, _ random: inout SeededGenerator) -> HandshakeStep {
        let set = random.chance(0.6)
        let code = (set ? Option.setMetaContext : .listMetaContext).rawValue
        let export: FuzzExport = random.chance(0.7) ? .disk : .archive
        let query = random.chance(0.8) ? MetaContext.baseAllocation : "qemu:dirty-bitmap:x"
        let payload = RawClient.metaContextPayload(export: export.name, queries: [query])
        guard state.structured else {
            return reply("meta context before STRUCTURED_REPLY", HandshakeGenerator.option(code, payload), code, .errorInvalid)
        }
        switch Int.random(in: 0..<4, using: &random) {
        case 0:
            return reply(
                "meta context payload cut",
                HandshakeGenerator.option(code, Array(payload.prefix(Int.random(in: 0..<payload.count, using: &random)))), code,
                .errorInvalid)
        case 1:
            let unknown = RawClient.metaContextPayload(export: "nope", queries: [query])
            return reply("meta context of an unknown export", HandshakeGenerator.option(code, unknown), code, .errorUnknown)
        default:
            if set { state.metaExport = query == MetaContext.baseAllocation ? export : nil }
            return reply(
                "\(set ? "SET" : "LIST") \(query) on \(export.name)", HandshakeGenerator.option(code, payload), code, .ack, malformed: false
            )
        }
    }

    /// An INFO or GO payload for `name` asking for a few info items, some unknown.
    static func infoPayload(_ name: String, _ random: inout SeededGenerator) -> [UInt8] {
        let requests = (0..<Int.random(in: 0...4, using: &random)).map { _ in UInt16.random(in: 0...5, using: &random) }
        return bigEndianBytes(UInt32(name.utf8.count)) + Array(name.utf8) + bigEndianBytes(UInt16(requests.count))
            + requests.flatMap(bigEndianBytes)
    }

    private static func reply(
        _ label: String, _ bytes: [UInt8], _ code: UInt32, _ final: OptionReply, malformed: Bool = true
    ) -> HandshakeStep {
        HandshakeStep(label: label, send: [.bytes(bytes)], isMalformed: malformed, expect: .replies(option: code, final: final))
    }
}
