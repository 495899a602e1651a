import BlockDevices
import DeviceLayers
import LocalDevices
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// Device failures reach the client as the one value ``ErrorTable``
    /// gives them, and the connection carries on.
    @Suite("Device errors through the error table")
    struct DeviceErrorTests {
        static let table: [(DeviceError.Kind, ErrorCode)] = [
            (.io, .io), (.noSpace, .noSpace), (.permission, .permission), (.invalid, .invalid),
            (.outOfMemory, .outOfMemory), (.shutdown, .shutdown), (.notSupported, .invalid),
        ]

        @Test(arguments: table)
        func aFailedWriteIsASimpleReplyWithTheMappedErrorAndServingContinues(kind: DeviceError.Kind, code: ErrorCode) async throws {
            let faults = FaultInjectingDevice(MemoryDevice(size: 1 << 20))
            try await withServer([Export(name: "disk", device: faults)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    faults.arm(.init([.write], kind: kind, count: 1))
                    let failed = try client.roundTrip(Request(.write, cookie: 1, offset: 0, length: 512), payload: pattern(512, seed: 1))
                    #expect(failed.errorCode == code)
                    #expect(!failed.isStructured)
                    try client.write(pattern(512, seed: 2), at: 0, cookie: 2)
                    #expect(try client.read(at: 0, length: 512, cookie: 3) == pattern(512, seed: 2))
                    try client.disconnect()
                }
            }
        }

        @Test(arguments: table)
        func aFailedReadIsAnErrorChunkWithTheMappedErrorAndServingContinues(kind: DeviceError.Kind, code: ErrorCode) async throws {
            let faults = FaultInjectingDevice(MemoryDevice(size: 1 << 20))
            try await withServer([Export(name: "disk", device: faults)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    faults.arm(.init([.read], kind: kind, range: 0..<4096))
                    let failed = try client.roundTrip(Request(.read, cookie: 1, offset: 0, length: 512))
                    #expect(failed.errorCode == code)
                    #expect(failed.chunkType == ReplyChunkType.error.rawValue)
                    #expect(failed.flags == replyFlagDone)
                    #expect(try client.read(at: 8192, length: 512, cookie: 2) == [UInt8](repeating: 0, count: 512))
                    try client.disconnect()
                }
            }
        }

        @Test func aFailedReadWithoutStructuredRepliesIsASimpleErrorWithNoData() async throws {
            let faults = FaultInjectingDevice(MemoryDevice(size: 1 << 20), faults: [.init([.read], kind: .io, count: 1)])
            try await withServer([Export(name: "disk", device: faults)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake(structured: false)
                    let failed = try client.roundTrip(Request(.read, cookie: 1, offset: 0, length: 4096), structured: false)
                    #expect(failed.errorCode == .io)
                    #expect(failed.payload.isEmpty)
                    #expect(try client.read(at: 0, length: 16, cookie: 2, structured: false) == [UInt8](repeating: 0, count: 16))
                    try client.disconnect()
                }
            }
        }

        /// ENOTSUP means "not fast" only to a client that asked for a fast zero.
        @Test(arguments: [(CommandFlags.fastZero, ErrorCode.notSupported), (CommandFlags(), .invalid)])
        func notSupportedIsENOTSUPOnlyForAFastZero(flags: CommandFlags, code: ErrorCode) async throws {
            let faults = FaultInjectingDevice(MemoryDevice(size: 1 << 20), faults: [.init([.zero], kind: .notSupported)])
            try await withServer([Export(name: "disk", device: faults)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let failed = try client.roundTrip(Request(.writeZeroes, flags: flags, cookie: 1, offset: 0, length: 4096))
                    #expect(failed.errorCode == code)
                    try client.disconnect()
                }
            }
        }

        @Test func aFailedBlockStatusIsAnErrorChunk() async throws {
            let faults = FaultInjectingDevice(MemoryDevice(size: 1 << 20), faults: [.init([.blockStatus], kind: .io)])
            try await withServer([Export(name: "disk", device: faults)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let failed = try client.roundTrip(Request(.blockStatus, cookie: 1, offset: 0, length: 4096))
                    #expect(failed.errorCode == .io)
                    #expect(failed.chunkType == ReplyChunkType.error.rawValue)
                    try client.disconnect()
                }
            }
        }
    }
}
