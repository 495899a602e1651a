import LocalDevices
import NBDProtocol
import NBDServer
import Synchronization
import TestSupport
import Testing

extension ServerTests {
    @Suite("Graceful shutdown")
    struct ShutdownTests {
        /// Writes held in the device while shutdown begins: they finish and
        /// are acknowledged, requests sent meanwhile get ESHUTDOWN, and
        /// `shutdown()` returns once the writes are done.
        @Test(.timeLimit(.minutes(5)))
        func inFlightRequestsFinishLaterOnesGetESHUTDOWNAndShutdownReturns() async throws {
            let memory = MemoryDevice(size: 1 << 20)
            let gate = GateDevice(memory, holding: [.write])
            let fixture = try ServerFixture([Export(name: "disk", device: gate)])
            let client = try await onOwnThread {
                let client = try fixture.connect()
                try client.handshake()
                for index in 0..<4 {
                    try client.sendRequest(
                        Request(.write, cookie: UInt64(index), offset: UInt64(index * 4096), length: 4096),
                        payload: pattern(4096, seed: UInt64(index)))
                }
                try #require(gate.waitUntilHolding(4))
                return client
            }
            let finished = Flag()
            let shutdown = Task {
                await fixture.server.shutdown()
                finished.value.store(true, ordering: .releasing)
            }
            try await onOwnThread {
                // Probe with FLUSHes (not held) until draining has begun.
                var cookie: UInt64 = 100
                while true {
                    let reply = try client.roundTrip(Request(.flush, cookie: cookie))
                    if reply.errorCode == .shutdown { break }
                    #expect(reply.error == 0)
                    cookie += 1
                }
                let refused = try client.roundTrip(Request(.read, cookie: 99, offset: 0, length: 512))
                #expect(refused.errorCode == .shutdown)
                let returnedEarly = finished.value.load(ordering: .acquiring)
                #expect(!returnedEarly, "shutdown returned while writes were in flight")
                gate.open()
                let replies = try (0..<4).map { _ in try client.readReply() }
                #expect(Set(replies.map(\.cookie)) == [0, 1, 2, 3])
                #expect(replies.allSatisfy { $0.error == 0 })
                try client.expectClosedWithoutReply()
            }
            await shutdown.value
            for index in 0..<4 {
                #expect(try await memory.read(at: UInt64(index * 4096), count: 4096) == pattern(4096, seed: UInt64(index)))
            }
            #expect(throws: ClientError.self) { try fixture.connect() }
            await fixture.stop()
        }

        /// A connection that ends while shutdown waits for another must not
        /// be "terminated" afterwards: its descriptor number may by then
        /// belong to some other socket of the process.
        @Test(.timeLimit(.minutes(5)))
        func shutdownLeavesAloneSocketsThatReuseAClosedConnectionsDescriptor() async throws {
            let gate = GateDevice(MemoryDevice(size: 1 << 20), holding: [.write])
            let fixture = try ServerFixture([Export(name: "disk", device: gate)])
            let (early, busy) = try await onOwnThread {
                let early = try fixture.connect()
                try early.handshake()
                let busy = try fixture.connect()
                try busy.handshake()
                try busy.sendRequest(Request(.write, cookie: 1, offset: 0, length: 512), payload: pattern(512, seed: 1))
                try #require(gate.waitUntilHolding(1))
                return (early, busy)
            }
            let shutdown = Task { await fixture.server.shutdown() }
            let pairs = try await onOwnThread {
                var cookie: UInt64 = 100
                while try busy.roundTrip(Request(.flush, cookie: cookie)).errorCode != .shutdown { cookie += 1 }
                // Draining has begun; this connection now ends on its own.
                try early.disconnect()
                early.close()
                return try (0..<4).map { _ in try SocketPair() }
            }
            gate.open()
            try await onOwnThread {
                #expect(try busy.readReply().error == 0)
                try busy.expectClosedWithoutReply()
            }
            await shutdown.value
            for pair in pairs {
                #expect(pair.stillCarriesData(), "shutdown() shut down an unrelated socket")
            }
            await fixture.stop()
        }

        @Test(.timeLimit(.minutes(5)))
        func shutdownClosesConnectionsStillNegotiating() async throws {
            let fixture = try ServerFixture([TestExports.memory()])
            let client = try await onOwnThread {
                let client = try fixture.connect()
                try client.readGreeting()
                return client
            }
            await fixture.server.shutdown()
            try await onOwnThread { try client.expectClosedWithoutReply() }
            await fixture.stop()
        }

        @Test(.timeLimit(.minutes(5)))
        func shutdownOfAnIdleServerReturnsAndIsIdempotent() async throws {
            let fixture = try ServerFixture([TestExports.memory()])
            try await onOwnThread {
                let before = try fixture.connect()
                try before.readGreeting()
                before.close()
            }
            await fixture.server.shutdown()
            await #expect(throws: ClientError.self, "a server that has shut down accepts no new connection") {
                try await onOwnThread { _ = try fixture.connect() }
            }
            await fixture.server.shutdown()
            await fixture.stop()
        }
    }
}

/// A flag shared between a task and a test thread.
private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
