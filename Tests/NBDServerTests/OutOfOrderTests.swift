import DeviceLayers
import LocalDevices
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    @Suite("Replies out of order, many requests in flight")
    struct OutOfOrderTests {
        /// 32 READs held in the device at once prove 32 requests in flight on
        /// one connection; letting them go last-first proves each reply
        /// leaves when its request finishes, not when it arrived.
        @Test func repliesLeaveInTheOrderRequestsFinishNotTheOrderTheyArrived() async throws {
            let memory = MemoryDevice(size: 1 << 20)
            let gate = GateDevice(memory, holding: [.read])
            try await withServer([Export(name: "disk", device: gate)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let count = 32
                    for index in 0..<count {
                        try client.write(pattern(4096, seed: UInt64(index)), at: UInt64(index * 4096), cookie: UInt64(1000 + index))
                    }
                    for index in 0..<count {
                        try client.sendRequest(Request(.read, cookie: UInt64(index), offset: UInt64(index * 4096), length: 4096))
                    }
                    try #require(gate.waitUntilHolding(count), "the server did not have \(count) READs in flight at once")
                    for index in (0..<count).reversed() {
                        #expect(gate.release(offset: UInt64(index * 4096)))
                        let reply = try client.readReply()
                        #expect(reply.cookie == UInt64(index))
                        #expect(reply.data == pattern(4096, seed: UInt64(index)))
                    }
                    try client.disconnect()
                }
            }
        }

        @Test func aSlowReadDoesNotHoldBackAFastWriteSentAfterIt() async throws {
            let slow = DelayedDevice(MemoryDevice(size: 1 << 20), delay: .seconds(1), operations: [.read])
            try await withServer([Export(name: "disk", device: slow)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    try client.sendRequest(Request(.read, cookie: 1, offset: 0, length: 4096))
                    try client.sendRequest(Request(.write, cookie: 2, offset: 8192, length: 512), payload: pattern(512, seed: 9))
                    let first = try client.readReply()
                    let second = try client.readReply()
                    #expect(first.cookie == 2 && first.error == 0)
                    #expect(second.cookie == 1 && second.data.count == 4096)
                    try client.disconnect()
                }
            }
        }

        /// More requests than the in-flight limit, pipelined from one thread
        /// while another reads replies, over a slow device: every request is
        /// answered exactly once and every write lands.
        @Test func manyPipelinedRequestsBeyondTheInFlightLimitAreEachAnsweredOnce() async throws {
            let slow = DelayedDevice(MemoryDevice(size: 1 << 22), delay: .milliseconds(5))
            let limits = ConnectionLimits(requestsInFlight: 16, bytesInFlight: 256 * 1024)
            try await withServer([Export(name: "disk", device: slow)], limits: limits) { fixture in
                let client = try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    return client
                }
                let count = 400
                async let sent: Void = onOwnThread {
                    for index in 0..<count {
                        let offset = UInt64(index % 200) * 16384
                        if index < 200 {
                            try client.sendRequest(
                                Request(.write, cookie: UInt64(index), offset: offset, length: 16384),
                                payload: pattern(16384, seed: UInt64(index)))
                        } else {
                            try client.sendRequest(Request(.read, cookie: UInt64(index), offset: offset, length: 16384))
                        }
                    }
                }
                let replies = try await onOwnThread { try (0..<count).map { _ in try client.readReply() } }
                try await sent
                #expect(Set(replies.map(\.cookie)) == Set((0..<count).map(UInt64.init)))
                #expect(replies.allSatisfy { $0.error == 0 })
                // A READ may have overtaken the WRITE to its offset; read everything back now.
                try await onOwnThread {
                    for index in 0..<200 {
                        let data = try client.read(at: UInt64(index) * 16384, length: 16384, cookie: UInt64(10_000 + index))
                        #expect(data == pattern(16384, seed: UInt64(index)), "block \(index)")
                    }
                    try client.disconnect()
                }
            }
        }
    }
}
