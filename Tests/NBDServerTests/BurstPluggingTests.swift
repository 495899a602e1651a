import LocalDevices
import NBDProtocol
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    /// What a request sends while it runs on the connection's reader (its
    /// reply, a replicated write's frame to the peer) may wait to leave with
    /// the rest of its burst: the requests that arrived with it. The reader
    /// says so with its plug, and marks the burst's first request, whose
    /// reply still leaves at once (see `BatchedReplyTests`).
    @Suite("Requests that arrive together are served plugged")
    struct BurstPluggingTests {
        /// Three writes sent in one piece arrive in one read: all three run
        /// plugged, the first marked as the burst's first. Before, the first
        /// ran unplugged, so a replicated burst's first frame left alone and
        /// every burst cost the peer link one `sendmsg` more.
        @Test func everyWriteOfABurstRunsPluggedAndTheFirstIsMarked() async throws {
            let seen = try await writesSeen { client in
                var burst: [UInt8] = []
                for index in 0..<3 {
                    burst += Request(.write, cookie: UInt64(index), offset: UInt64(index) * 512, length: 512).encoded()
                    burst += pattern(512, seed: UInt64(index))
                }
                try client.send(burst)
                for _ in 0..<3 { #expect(try client.readReply().error == 0) }
            }
            #expect(seen.map(\.offset) == [0, 512, 1024])
            #expect(seen.map(\.plugging) == [.firstOfBurst, .midBurst, .midBurst])
        }

        /// A request that arrived alone has nothing to wait for: it runs
        /// unplugged, and whatever it sends leaves at once.
        @Test func aWriteThatArrivedAloneRunsUnplugged() async throws {
            let seen = try await writesSeen { client in
                for index in 0..<2 {
                    let reply = try client.roundTrip(
                        Request(.write, cookie: UInt64(index), offset: UInt64(index) * 512, length: 512),
                        payload: pattern(512, seed: UInt64(index)))
                    #expect(reply.error == 0)
                }
            }
            #expect(seen.map(\.plugging) == [.unplugged, .unplugged])
        }

        /// Runs `body` with a client connected to a server whose device
        /// notes how each write was plugged, and returns what it noted.
        private func writesSeen(
            _ body: @escaping @Sendable (RawClient) throws -> Void
        ) async throws -> [(offset: UInt64, plugging: PlugRecordingDevice.Plugging)] {
            let device = PlugRecordingDevice(MemoryDevice(size: 1 << 20))
            try await withServer([Export(name: "disk", device: device)]) { fixture in
                try await onOwnThread {
                    let client = try fixture.connect()
                    try client.handshake()
                    try body(client)
                    try client.disconnect()
                }
            }
            return device.writes
        }
    }
}
