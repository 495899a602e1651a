import BlockDevices
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// A device whose reads and writes end on its own thread (a RADOS image)
    /// has the engine start them with `startRead` and `startWrite`, no task
    /// per request: the thread that ends a request answers it, with its data
    /// in place and its error mapped as for any other request.
    @Suite("Requests the device starts without a task")
    struct StartedRequestTests {
        /// 16 writes held in the device at once, none of them through
        /// `write`; ended last-first from the test's thread, each reply
        /// leaves as its write ends.
        @Test func eachStartedWriteIsAnsweredWhenTheDeviceEndsIt() async throws {
            let device = HeldRequestsDevice(size: 1 << 20)
            let count = 16
            try await withServer([Export(name: "disk", device: device)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
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
                    try client.disconnect()
                }
            }
            for index in 0..<count {
                #expect(try await device.read(at: UInt64(index * 4096), count: 4096) == pattern(4096, seed: UInt64(index)))
            }
            #expect(device.counts == (started: count, servedByTask: count))
        }

        /// 16 reads held at once, ended last-first: each reply carries its
        /// own range's bytes, copied in when the device ended it.
        @Test func eachStartedReadIsAnsweredWithItsDataWhenTheDeviceEndsIt() async throws {
            let device = HeldRequestsDevice(size: 1 << 20)
            let count = 16
            for index in 0..<count {
                try await device.write(pattern(4096, seed: UInt64(50 + index)), at: UInt64(index * 4096))
            }
            try await withServer([Export(name: "disk", device: device)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    for index in 0..<count {
                        try client.sendRequest(Request(.read, cookie: UInt64(index), offset: UInt64(index * 4096), length: 4096))
                    }
                    try #require(device.waitUntilHolding(count), "the server did not start \(count) reads in the device")
                    for index in (0..<count).reversed() {
                        #expect(device.end(offset: UInt64(index * 4096)))
                        let reply = try client.readReply()
                        #expect(reply.cookie == UInt64(index))
                        #expect(reply.data == pattern(4096, seed: UInt64(50 + index)))
                    }
                    try client.disconnect()
                }
            }
            #expect(device.counts == (started: count, servedByTask: count))
        }

        /// Both ways a device keeps a request on the task path: it declines
        /// this one (an object's first RADOS write), or its capabilities say
        /// it starts nothing, and then it is never even offered one (a file
        /// or memory device pays nothing for the path it does not have).
        @Test(arguments: ["declines at that offset", "starts nothing"])
        func requestsTheDeviceDoesNotStartTakeTheTaskPath(device kind: String) async throws {
            let device =
                kind == "starts nothing"
                ? HeldRequestsDevice(size: 1 << 20, startsWithoutTask: false)
                : HeldRequestsDevice(size: 1 << 20, declined: [8192])
            try await withServer([Export(name: "disk", device: device)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    try client.write(pattern(512, seed: 7), at: 8192, cookie: 1)
                    #expect(try client.read(at: 8192, length: 512, cookie: 2) == pattern(512, seed: 7))
                    try client.disconnect()
                }
            }
            #expect(device.counts == (started: 0, servedByTask: 2))
            #expect(device.offersAgainstCapabilities == 0)
        }

        /// The device's errors, from its own thread, are the client's error
        /// values (a simple reply for a write, an error chunk for a read)
        /// and an operator's log line each; the connection carries on and
        /// its in-flight room comes back (more writes than its limit follow).
        @Test func startedRequestsThatFailAreErrorRepliesAndServingContinues() async throws {
            let device = HeldRequestsDevice(size: 1 << 20)
            let log = CapturedLog()
            let limits = ConnectionLimits(requestsInFlight: 4, bytesInFlight: 64 << 10)
            let fixture = try ServerFixture([Export(name: "disk", device: device)], limits: limits, logger: log.logger())
            try await onOwnThread {
                let client = try fixture.connect()
                try client.handshake()
                try client.sendRequest(Request(.write, cookie: 1, offset: 0, length: 4096), payload: pattern(4096, seed: 1))
                try #require(device.waitUntilHolding(1))
                device.end(offset: 0, failure: DeviceError(.noSpace, "the test's cluster is full"))
                let failedWrite = try client.readReply()
                #expect(failedWrite.cookie == 1 && failedWrite.errorCode == .noSpace && !failedWrite.isStructured)

                try client.sendRequest(Request(.read, cookie: 2, offset: 4096, length: 4096))
                try #require(device.waitUntilHolding(1))
                device.end(offset: 4096, failure: DeviceError(.io, "the test's OSD lost it"))
                let failedRead = try client.readReply()
                #expect(failedRead.cookie == 2 && failedRead.errorCode == .io)
                #expect(failedRead.chunkType == ReplyChunkType.error.rawValue && failedRead.flags == replyFlagDone)

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
            // The second failure within the rate limit's interval may be
            // held and counted in the line the connection's end writes.
            #expect(
                log.count(atLeast: .warning, containing: "the test's OSD lost it")
                    + log.count(atLeast: .warning, containing: "failed requests:") >= 1)
        }
    }
}
