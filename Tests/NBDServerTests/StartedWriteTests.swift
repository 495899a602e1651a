import BlockDevices
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// A device whose writes end on its own thread (a RADOS image) has the
    /// engine start them with `startWrite`, no task per write: the thread
    /// that ends a write answers it, with the write's data in place and its
    /// error mapped as for any other request.
    @Suite("Writes the device starts without a task")
    struct StartedWriteTests {
        /// 16 writes held in the device at once, none of them through
        /// `write`; ended last-first from the test's thread, each reply
        /// leaves as its write ends.
        @Test func eachStartedWriteIsAnsweredWhenTheDeviceEndsIt() async throws {
            let device = HeldWritesDevice(size: 1 << 20)
            try await withServer([Export(name: "disk", device: device)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    let count = 16
                    for index in 0..<count {
                        try client.sendRequest(
                            Request(.write, cookie: UInt64(index), offset: UInt64(index * 4096), length: 4096),
                            payload: pattern(4096, seed: UInt64(index)))
                    }
                    try #require(device.waitUntilHolding(count), "the server did not start \(count) writes in the device")
                    for index in (0..<count).reversed() {
                        #expect(device.end(offset: UInt64(index * 4096)))
                        let reply = try client.readReply()
                        #expect(reply.cookie == UInt64(index) && reply.error == 0)
                    }
                    for index in 0..<count {
                        let back = try client.read(at: UInt64(index * 4096), length: 4096, cookie: UInt64(100 + index))
                        #expect(back == pattern(4096, seed: UInt64(index)))
                    }
                    #expect(device.counts == (started: count, writtenByTask: 0))
                    try client.disconnect()
                }
            }
        }

        @Test func aWriteTheDeviceDeclinesTakesWrite() async throws {
            let device = HeldWritesDevice(size: 1 << 20, declined: [8192])
            try await withServer([Export(name: "disk", device: device)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    try client.write(pattern(512, seed: 7), at: 8192, cookie: 1)
                    #expect(try client.read(at: 8192, length: 512, cookie: 2) == pattern(512, seed: 7))
                    #expect(device.counts == (started: 0, writtenByTask: 1))
                    try client.disconnect()
                }
            }
        }

        /// The device's error, from its own thread, is the client's error
        /// value and an operator's log line; the connection carries on and
        /// its in-flight room comes back (more writes than its limit follow).
        @Test func aStartedWriteThatFailsIsAnErrorReplyAndServingContinues() async throws {
            let device = HeldWritesDevice(size: 1 << 20)
            let log = CapturedLog()
            let limits = ConnectionLimits(requestsInFlight: 4, bytesInFlight: 64 << 10)
            let fixture = try ServerFixture([Export(name: "disk", device: device)], limits: limits, logger: log.logger())
            try await onOwnThread {
                let client = try fixture.connect()
                try client.handshake()
                try client.sendRequest(Request(.write, cookie: 1, offset: 0, length: 4096), payload: pattern(4096, seed: 1))
                try #require(device.waitUntilHolding(1))
                device.end(offset: 0, failure: DeviceError(.noSpace, "the test's cluster is full"))
                let failed = try client.readReply()
                #expect(failed.cookie == 1 && failed.errorCode == .noSpace)
                #expect(try client.read(at: 0, length: 4096, cookie: 2) == [UInt8](repeating: 0, count: 4096))
                for index in 0..<12 {
                    let offset = UInt64(index * 4096)
                    try client.sendRequest(
                        Request(.write, cookie: UInt64(10 + index), offset: offset, length: 4096),
                        payload: pattern(4096, seed: UInt64(index)))
                    try #require(device.waitUntilHolding(1))
                    device.end(offset: offset)
                    #expect(try client.readReply().error == 0)
                }
                try client.disconnect()
                client.close()
            }
            await fixture.stop()
            #expect(log.count(atLeast: .warning, containing: "the test's cluster is full") == 1)
        }
    }
}
