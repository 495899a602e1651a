import NBDProtocol
import TestSupport

/// Generates the transmission phase of a fuzzing connection: up to eight
/// requests, most of them refused for one reason or another, then an ending
/// that is a clean disconnect or one more way to break the stream.
enum TransmissionGenerator {
    static func script(_ session: FuzzSession, _ random: inout SeededGenerator) -> TransmissionScript {
        var script = TransmissionScript(session: session, ending: .disconnect(junk: []))
        let first = UInt64.random(in: 1...1_000_000, using: &random)
        for index in 0..<Int.random(in: 0...8, using: &random) {
            script.requests.append(request(cookie: first + UInt64(index), session, &random))
        }
        script.ending = ending(session, &random)
        return script
    }

    static func request(cookie: UInt64, _ session: FuzzSession, _ random: inout SeededGenerator) -> FuzzRequest {
        let export = session.export
        var request = Request(.read, cookie: cookie)
        let commands: [Command] = [.read, .write, .flush, .trim, .writeZeroes, .cache, .blockStatus]
        let command = commands.randomElement(using: &random)!
        let length = UInt32.random(in: 1...65536, using: &random)
        switch Int.random(in: 0..<14, using: &random) {
        case 0...2:  // well-formed, inside the fuzzing region
            request = Request(command, cookie: cookie)
            if command != .flush { place(&request, length: length, in: export.fuzzRegion, &random) }
        case 3:  // past the end
            let over = UInt64.random(in: 1...UInt64(length), using: &random)
            request = Request(command, cookie: cookie, offset: export.size + over - UInt64(length), length: length)
        case 4:  // offset + length overflows
            request = Request(command, cookie: cookie, offset: .max - UInt64.random(in: 0..<4096, using: &random), length: length)
        case 5:  // an empty range
            request = Request(command, cookie: cookie, offset: UInt64.random(in: 0...export.size, using: &random), length: 0)
        case 6:  // a command the spec does not define
            request = Request(
                type: UInt16.random(in: 8...UInt16.max, using: &random), flags: [], cookie: cookie,
                offset: random.next(), length: UInt32.random(in: 0...UInt32.max, using: &random))
        case 7:  // flags the spec does not define
            request = Request(.read, cookie: cookie)
            place(&request, length: length, in: export.fuzzRegion, &random)
            request.flags = CommandFlags(rawValue: UInt16.random(in: 1...0x7ff, using: &random) << 5)
        case 8:  // a known flag, often on a command it does not apply to
            request = Request(command, cookie: cookie)
            if command != .flush { place(&request, length: length, in: export.fuzzRegion, &random) }
            request.flags = [.fua, .noHole, .dontFragment, .requestOne, .fastZero].randomElement(using: &random)!
        case 9:  // FLUSH with a range
            request = Request(.flush, cookie: cookie, offset: UInt64.random(in: 0...1, using: &random), length: 1)
        case 10:  // a READ over the maximum payload
            request = Request(
                .read, cookie: cookie, length: UInt32.random(in: (ProtocolLimits.payloadMaximum + 1)...UInt32.max, using: &random))
        default:  // every field random, the magic aside
            request = Request(
                type: UInt16.random(in: 0...9, using: &random), flags: CommandFlags(rawValue: UInt16.random(in: 0...0x1f, using: &random)),
                cookie: cookie, offset: interestingOffset(export, &random), length: interestingLength(&random))
        }
        if request.type == Command.disconnect.rawValue { request.type = Command.flush.rawValue }
        if request.hasPayload && request.length > 65536 { request.length = length }
        // Fuzzed writes that succeed stay out of the well-behaved client's region.
        if TransmissionModel.expected(request, in: session).error == nil
            && TransmissionModel.wouldModify(request, FuzzExport.goodRegion)
        {
            place(&request, length: min(request.length, length), in: export.fuzzRegion, &random)
        }
        let payload = request.hasPayload ? random.bytes(Int(request.length)) : []
        return FuzzRequest(request: request, payload: payload, expected: TransmissionModel.expected(request, in: session))
    }

    private static func place(_ request: inout Request, length: UInt32, in region: Range<UInt64>, _ random: inout SeededGenerator) {
        request.length = length
        request.offset = UInt64.random(in: region.lowerBound...(region.upperBound - UInt64(length)), using: &random)
    }

    private static func interestingOffset(_ export: FuzzExport, _ random: inout SeededGenerator) -> UInt64 {
        [
            0, export.size - 1, export.size, export.size + 1, .max, .max - 511, random.next(),
            UInt64.random(in: export.fuzzRegion, using: &random),
        ].randomElement(using: &random)!
    }

    private static func interestingLength(_ random: inout SeededGenerator) -> UInt32 {
        [
            0, 1, 512, 4096, ProtocolLimits.payloadMaximum, ProtocolLimits.payloadMaximum + 1, .max,
            UInt32.random(in: 1...65536, using: &random),
        ].randomElement(using: &random)!
    }

    static func ending(_ session: FuzzSession, _ random: inout SeededGenerator) -> TransmissionScript.Ending {
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<40:
            return .disconnect(junk: [])
        case 40..<52:  // data after DISC, which the server must ignore
            let junk =
                random.chance(0.5)
                ? random.bytes(Int.random(in: 1...100, using: &random))
                : Request(.write, cookie: 1, offset: 0, length: 512).encoded() + [UInt8](repeating: 0xee, count: 512)
            return .disconnect(junk: junk)
        case 52..<62:
            var header = random.bytes(28)
            if header.prefix(4).elementsEqual(bigEndianBytes(Magic.request)) { header[0] ^= 0xff }
            return .fatal(
                label: "bad request magic", bytes: header + random.bytes(Int.random(in: 0...64, using: &random)), stopWriting: false)
        case 62..<70:
            let header = Request(.read, cookie: 7, offset: 0, length: 512).encoded()
            return .fatal(label: "truncated header", bytes: Array(header.prefix(Int.random(in: 1...27, using: &random))), stopWriting: true)
        case 70..<78:
            let length = Int.random(in: 1...65536, using: &random)
            let header = Request(.write, cookie: 7, offset: 0, length: UInt32(length)).encoded()
            return .fatal(
                label: "truncated WRITE payload", bytes: header + random.bytes(Int.random(in: 0..<length, using: &random)),
                stopWriting: true)
        case 78..<84:
            let length = UInt32.random(in: (ProtocolLimits.payloadMaximum + 1)...UInt32.max, using: &random)
            let header = Request(.write, cookie: 7, offset: 0, length: length).encoded()
            return .fatal(
                label: "oversized WRITE then close", bytes: header + random.bytes(Int.random(in: 0...4096, using: &random)),
                stopWriting: true)
        case 84..<92:
            var bytes = random.bytes(Int.random(in: 1...200, using: &random))
            if bytes.prefix(4).elementsEqual(bigEndianBytes(Magic.request)) { bytes[0] ^= 0xff }
            return .fatal(label: "\(bytes.count) random bytes", bytes: bytes, stopWriting: true)
        default:
            return .abandon
        }
    }
}
