import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// What the server admits: a client that stalls in negotiation is
    /// closed after the handshake timeout, one that negotiated is never
    /// timed out, and connections past the maximum are closed at once.
    @Suite("Admission")
    struct AdmissionTests {
        // The bounds are safety nets for a loaded machine (one run took 83 s
        // while every other suite ran beside it on two cores).
        @Test(.timeLimit(.minutes(5)))
        func aStalledHandshakeIsClosedAfterTheTimeoutAndANegotiatedClientIsNot() async throws {
            let fixture = try ServerFixture(
                [TestExports.memory()], admission: AdmissionLimits(handshakeTimeout: .seconds(2), connectionsMaximum: 16))
            let served = try await onOwnThread {
                let client = try RawClient(path: fixture.socketPath, timeout: 50)
                _ = try client.handshake()
                return client
            }
            try await onOwnThread {
                let stalled = try RawClient(path: fixture.socketPath, timeout: 50)
                try stalled.readGreeting()
                // Says nothing more: the watchdog must hang up on it.
                try stalled.expectClosedWithoutReply()
            }
            #expect(fixture.server.handshakesTimedOut == 1)
            // The negotiated client has now been idle past the timeout too.
            try await onOwnThread {
                let reply = try served.roundTrip(Request(.write, cookie: 1, offset: 0, length: 512), payload: pattern(512, seed: 9))
                #expect(reply.error == 0, "a client in transmission is not subject to the handshake timeout")
                try served.disconnect()
                served.close()
            }
            await fixture.stop()
        }

        @Test(.timeLimit(.minutes(5)))
        func connectionsPastTheMaximumAreClosedAtOnceAndCounted() async throws {
            let fixture = try ServerFixture([TestExports.memory()], admission: AdmissionLimits(connectionsMaximum: 2))
            try await onOwnThread {
                let first = try fixture.connect(), second = try fixture.connect()
                try first.readGreeting()
                try second.readGreeting()
                let third = try fixture.connect()
                try third.expectClosedWithoutReply()
                first.close()
                second.close()
            }
            #expect(fixture.server.connectionsRefused == 1)
            // Once the first two have gone, a new client is served again.
            try await waitUntil("the server has let go of the first two") {
                OpenSockets.count(servedAt: fixture.socketPath) <= 1
            }
            try await onOwnThread {
                let again = try fixture.connect()
                _ = try again.handshake()
                try again.disconnect()
                again.close()
            }
            await fixture.stop()
        }
    }
}
