import Foundation
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// Option payloads over 64 KiB are never held: up to 16 MiB they are
    /// skipped in small pieces and refused with NBD_REP_ERR_TOO_BIG, beyond
    /// that the connection closes before a byte of payload is read.
    @Suite("Oversized options")
    struct OversizedOptionTests {
        static func header(_ option: UInt32, length: UInt32) -> [UInt8] {
            bigEndianBytes(Magic.option) + bigEndianBytes(option) + bigEndianBytes(length)
        }

        static func sendFiller(_ client: RawClient, _ count: Int) throws {
            let piece = [UInt8](repeating: 0x41, count: 65536)
            var left = count
            while left > 0 {
                try client.send(Array(piece.prefix(left)))
                left -= min(left, piece.count)
            }
        }

        @Test(arguments: [ProtocolLimits.optionLengthMaximum + 1, ProtocolLimits.optionDrainMaximum])
        func anOversizedOptionIsSkippedThenRefusedWithTooBigAndNegotiationGoesOn(length: UInt32) async throws {
            try await withServer([TestExports.memory()]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.readGreeting()
                    try client.sendClientFlags()
                    try client.send(Self.header(Option.go.rawValue, length: length))
                    try Self.sendFiller(client, Int(length))
                    let refused = try client.readOptionReply()
                    #expect(refused.option == Option.go.rawValue)
                    #expect(refused.type == OptionReply.errorTooBig.rawValue)
                    try client.sendOption(Option.list.rawValue)
                    #expect(try client.readOptionReplies().last?.type == OptionReply.ack.rawValue)
                }
            }
        }

        /// The server closes right after the header, while we still hold
        /// the payload: it never waited for those bytes.
        @Test func anOptionOverTheDrainLimitClosesTheConnectionBeforeItsPayload() async throws {
            try await withServer([TestExports.memory()]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.readGreeting()
                    try client.sendClientFlags()
                    try client.send(Self.header(Option.list.rawValue, length: ProtocolLimits.optionDrainMaximum + 1))
                    try client.expectClosedWithoutReply()
                }
            }
        }

        /// A 16 MiB option that the client abandons halfway costs the server
        /// a 64 KiB scratch buffer, not 16 MiB of memory (measured as the
        /// growth of this process's resident set while the server skips),
        /// and ends only that connection.
        @Test func anAbandonedSixteenMebibyteOptionIsNeverBufferedAndEndsOnlyItsConnection() async throws {
            try await withServer([TestExports.memory()]) { fixture in
                try await onOwnThread {
                    let bystander = try fixture.connect()
                    try bystander.handshake()
                    let client = try fixture.connect()
                    try client.readGreeting()
                    try client.sendClientFlags()
                    let before = ResidentMemory.bytes()
                    try client.send(Self.header(Option.info.rawValue, length: ProtocolLimits.optionDrainMaximum))
                    try Self.sendFiller(client, 12 << 20)
                    let growth = ResidentMemory.bytes() - before
                    #expect(growth < 12 << 20, "resident memory grew by \(growth >> 20) MiB while the server skipped")
                    client.close()
                    try bystander.write(pattern(4096, seed: 5), at: 0, cookie: 1)
                    #expect(try bystander.read(at: 0, length: 4096, cookie: 2) == pattern(4096, seed: 5))
                    try bystander.disconnect()
                }
            }
        }

        /// EXPORT_NAME cannot carry an error, so an oversized one closes at once.
        @Test func anOversizedExportNameClosesTheConnectionBeforeItsPayload() async throws {
            try await withServer([TestExports.memory()]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.readGreeting()
                    try client.sendClientFlags()
                    try client.send(Self.header(Option.exportName.rawValue, length: ProtocolLimits.optionLengthMaximum + 1))
                    try client.expectClosedWithoutReply()
                }
            }
        }
    }
}

/// This process's resident memory, from /proc/self/statm.
enum ResidentMemory {
    static func bytes() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
