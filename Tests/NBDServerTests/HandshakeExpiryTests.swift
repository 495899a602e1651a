import Logging
import Sockets
import Testing

@testable import NBDServer

extension ServerTests {
    @Suite("A handshake's expiry")
    struct HandshakeExpiryTests {
        /// The watcher checks every second, and an expired connection stays
        /// in the server's table until its thread has ended, which under
        /// load took longer: only the first check may count it timed out.
        @Test func anExpiredHandshakeIsClaimedOnce() throws {
            let pair = try SocketPair()
            let connection = Connection(
                socket: Socket(descriptor: pair.ends.0), exports: ExportTable([]), limits: ConnectionLimits(),
                pool: BufferPool(), logger: Logger(label: "test"))
            let later = ContinuousClock.now + .seconds(10)
            #expect(!connection.claimExpiredHandshake(at: .now, timeout: .seconds(5)), "not expired yet")
            #expect(connection.claimExpiredHandshake(at: later, timeout: .seconds(5)))
            #expect(!connection.claimExpiredHandshake(at: later + .seconds(1), timeout: .seconds(5)), "claimed already")
        }
    }
}
