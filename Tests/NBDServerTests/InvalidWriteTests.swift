import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// A refused WRITE's payload is still on the wire; unless the server reads
    /// and drops it, the payload would be parsed as request headers.
    @Suite("Invalid writes drain their payload")
    struct InvalidWriteTests {
        /// A payload made of WRITE headers that would zero offset 0 if the
        /// server mistook them for requests.
        static func treacherousPayload(_ length: Int) -> [UInt8] {
            let header = Request(.writeZeroes, cookie: 0xbad, offset: 0, length: 4096).encoded()
            return Array((0..<(length / header.count + 1)).flatMap { _ in header }.prefix(length))
        }

        @Test(arguments: [true, false])
        func aWritePastTheEndIsENOSPCAndItsPayloadIsDrained(structured: Bool) async throws {
            try await withServer([TestExports.memory(size: 1 << 20)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake(structured: structured, baseAllocation: false)
                    try client.write(pattern(4096, seed: 1), at: 0, cookie: 1)
                    let refused = try client.roundTrip(
                        Request(.write, cookie: 2, offset: (1 << 20) - 100, length: 65536), payload: Self.treacherousPayload(65536))
                    #expect(refused.errorCode == .noSpace)
                    #expect(!refused.isStructured)
                    #expect(try client.read(at: 0, length: 4096, cookie: 3, structured: structured) == pattern(4096, seed: 1))
                    try client.disconnect()
                }
            }
        }

        @Test func aWriteOnAReadOnlyExportIsEPERMAndItsPayloadIsDrained() async throws {
            try await withServer([TestExports.readOnly()]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let refused = try client.roundTrip(
                        Request(.write, cookie: 1, offset: 0, length: 8192), payload: Self.treacherousPayload(8192))
                    #expect(refused.errorCode == .permission)
                    #expect(try client.read(at: 0, length: 512, cookie: 2) == [UInt8](repeating: 0, count: 512))
                    try client.disconnect()
                }
            }
        }

        @Test func aWriteWithBadFlagsIsEINVALAndItsPayloadIsDrained() async throws {
            try await withServer([TestExports.memory()]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let refused = try client.roundTrip(
                        Request(.write, flags: .requestOne, cookie: 1, offset: 0, length: 100), payload: Self.treacherousPayload(100))
                    #expect(refused.errorCode == .invalid)
                    try client.write(pattern(100, seed: 2), at: 0, cookie: 2)
                    #expect(try client.read(at: 0, length: 100, cookie: 3) == pattern(100, seed: 2))
                    try client.disconnect()
                }
            }
        }

        /// 32 MiB + 1 on an export large enough that only the payload limit
        /// is broken: refused, skipped in pieces, and the connection goes on.
        @Test func aWriteOverThePayloadMaximumIsEINVALAndItsPayloadIsDrained() async throws {
            try await withServer([TestExports.memory(size: 1 << 40)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let length = Int(ProtocolLimits.payloadMaximum) + 1
                    let refused = try client.roundTrip(
                        Request(.write, cookie: 1, offset: 0, length: UInt32(length)), payload: Self.treacherousPayload(length))
                    #expect(refused.errorCode == .invalid)
                    try client.write(pattern(4096, seed: 3), at: 4096, cookie: 2)
                    #expect(try client.read(at: 4096, length: 4096, cookie: 3) == pattern(4096, seed: 3))
                    try client.disconnect()
                }
            }
        }

        /// Empty ranges once reached the device with no buffer and trapped.
        @Test(arguments: [Command.read, .write, .trim, .writeZeroes, .cache, .blockStatus], [true, false])
        func anEmptyRequestIsRefusedAndTheServerKeepsServing(command: Command, structured: Bool) async throws {
            try await withServer([TestExports.memory()]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake(structured: structured, baseAllocation: structured)
                    let refused = try client.roundTrip(Request(command, cookie: 1, offset: 0, length: 0), structured: structured)
                    let expected: ErrorCode = (command == .write || command == .writeZeroes) ? .noSpace : .invalid
                    #expect(refused.errorCode == expected)
                    #expect(try client.read(at: 0, length: 16, cookie: 2, structured: structured) == [UInt8](repeating: 0, count: 16))
                    try client.disconnect()
                }
            }
        }
    }
}
