import Glibc
import Replication
import Sockets
import Testing

/// The replication channel over a socket whose peer has gone.
@Suite struct TCPChannelTests {
    /// A peer (or a proxy between) that closes its end must cost the link,
    /// never the process: writing to such a socket raises SIGPIPE unless
    /// the write says not to, and SIGPIPE's default action is to die.
    @Test func sendingToAPeerThatHasGoneFailsTheLinkWithoutSIGPIPE() throws {
        var ends: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        close(ends[1])
        let channel = TCPChannel(socket: Socket(descriptor: ends[0]), peerName: "a peer that has gone")
        defer { close(ends[0]) }
        let payload = [UInt8](repeating: 7, count: 4096)
        let error = payload.withUnsafeBytes { bytes in
            #expect(throws: ReplicationError.self) {
                try channel.send(FrameHeader(.write, length: 4096, payloadLength: 4096), data: bytes)
            }
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("a peer that has gone"))
    }
}
