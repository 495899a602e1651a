import NBDProtocol
import TestSupport

/// Generates a fuzzing connection from its first byte: client flags (now
/// and then wrong), a handful of options (mostly malformed, unknown,
/// oversized or out of order) and an ending: transmission, or one more way
/// to break or abandon the handshake.
enum HandshakeGenerator {
    /// What the options so far have settled.
    struct State {
        var noZeroes = true
        var structured = false
        /// The export whose `base:allocation` is selected.
        var metaExport: FuzzExport?
    }

    static func script(_ random: inout SeededGenerator) -> ConnectionScript {
        var script = ConnectionScript()
        var state = State()
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<4:
            let flags = UInt32.random(in: 1...UInt32.max, using: &random) << 2
            script.handshake.append(step("unknown client flags", bigEndianBytes(flags), .close))
            return script
        case 4..<7:
            let bytes = random.bytes(Int.random(in: 1...3, using: &random))
            script.handshake.append(step("truncated client flags", bytes, .closeAfterWeStopWriting))
            return script
        case 7..<12:
            state.noZeroes = random.chance(0.5)
            let flags: ClientFlags = state.noZeroes ? [.noZeroes] : []
            script.handshake.append(step("client without fixed newstyle", bigEndianBytes(flags.rawValue), .nothing, malformed: false))
            if random.chance(0.5) {
                return exportName(&script, state, random.chance(0.5) ? .disk : .archive, &random)
            }
            let code = UInt32.random(in: 2...UInt32.max, using: &random)
            script.handshake.append(step("option \(code) without fixed newstyle", option(code, []), .close))
            return script
        default:
            state.noZeroes = random.chance(0.8)
            let flags: ClientFlags = state.noZeroes ? [.fixedNewstyle, .noZeroes] : [.fixedNewstyle]
            script.handshake.append(step("client flags", bigEndianBytes(flags.rawValue), .nothing, malformed: false))
        }
        for _ in 0..<Int.random(in: 0...7, using: &random) {
            script.handshake.append(OptionGenerator.step(&state, &random))
        }
        return ending(&script, state, &random)
    }

    private static func ending(_ script: inout ConnectionScript, _ state: State, _ random: inout SeededGenerator) -> ConnectionScript {
        let export: FuzzExport = random.chance(0.7) ? .disk : .archive
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<35:
            let name = export == .disk && random.chance(0.3) ? "" : export.name
            script.handshake.append(
                step("GO \(export.name)", option(Option.go.rawValue, OptionGenerator.infoPayload(name, &random)), .go, malformed: false))
            script.transmission = TransmissionGenerator.script(session(state, export), &random)
        case 35..<45:
            return exportName(&script, state, export, &random)
        case 45..<50:
            var header = option(Option.go.rawValue, [])
            header[Int.random(in: 0..<8, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            script.handshake.append(step("bad option magic", header, .close))
        case 50..<55:
            let header = option(Option.list.rawValue, [])
            script.handshake.append(
                step("truncated option header", Array(header.prefix(Int.random(in: 1...15, using: &random))), .closeAfterWeStopWriting))
        case 55..<60:
            let payload = random.bytes(Int.random(in: 1...4096, using: &random))
            let frame = option([3, 6, 7, 9, 10].randomElement(using: &random)!, payload)
            script.handshake.append(
                step(
                    "truncated option payload", Array(frame.prefix(16 + Int.random(in: 0..<payload.count, using: &random))),
                    .closeAfterWeStopWriting))
        case 60..<65:
            let length = UInt32.random(in: (ProtocolLimits.optionDrainMaximum + 1)...UInt32.max, using: &random)
            script.handshake.append(
                step("option length \(length)", header(UInt32.random(in: 2...12, using: &random), length: length), .close))
        case 65..<70:
            let length = UInt32.random(in: (ProtocolLimits.optionLengthMaximum + 1)...ProtocolLimits.optionDrainMaximum, using: &random)
            script.handshake.append(step("EXPORT_NAME length \(length)", header(Option.exportName.rawValue, length: length), .close))
        case 70..<75:
            script.handshake.append(step("EXPORT_NAME of an unknown export", option(1, Array("nope\(random.next())".utf8)), .close))
        case 75..<78:
            let name = [UInt8](repeating: UInt8(ascii: "a"), count: Int.random(in: 4097...8000, using: &random))
            script.handshake.append(step("EXPORT_NAME of \(name.count) bytes", option(1, name), .close))
        case 78..<83:
            script.handshake.append(step("ABORT", option(Option.abort.rawValue, []), .ackThenClose(option: 2), malformed: false))
        case 83..<90:
            var bytes = random.bytes(Int.random(in: 1...300, using: &random))
            if random.chance(0.5) { bytes = bigEndianBytes(Magic.option) + bytes }
            script.handshake.append(step("\(bytes.count) random bytes", bytes, .anythingThenClose))
        case 90..<95:
            script.handshake.append(step("abandon during negotiation", [], .abandon, malformed: false))
        default:
            script.handshake.append(step("stop writing during negotiation", [], .closeAfterWeStopWriting, malformed: false))
        }
        return script
    }

    private static func exportName(
        _ script: inout ConnectionScript, _ state: State, _ export: FuzzExport, _ random: inout SeededGenerator
    ) -> ConnectionScript {
        script.handshake.append(
            step(
                "EXPORT_NAME \(export.name)", option(Option.exportName.rawValue, Array(export.name.utf8)),
                .exportName(zeroes: !state.noZeroes), malformed: false))
        script.transmission = TransmissionGenerator.script(session(state, export), &random)
        return script
    }

    static func session(_ state: State, _ export: FuzzExport) -> FuzzSession {
        FuzzSession(structured: state.structured, baseAllocation: state.structured && state.metaExport == export, export: export)
    }

    static func step(_ label: String, _ bytes: [UInt8], _ expect: HandshakeExpectation, malformed: Bool = true) -> HandshakeStep {
        HandshakeStep(label: label, send: [.bytes(bytes)], isMalformed: malformed, expect: expect)
    }

    static func header(_ code: UInt32, length: UInt32) -> [UInt8] {
        bigEndianBytes(Magic.option) + bigEndianBytes(code) + bigEndianBytes(length)
    }

    static func option(_ code: UInt32, _ payload: [UInt8]) -> [UInt8] {
        header(code, length: UInt32(payload.count)) + payload
    }
}
