import Glibc
import NBDProtocol
import Sockets
import Synchronization
import Testing
import Threading

@testable import NBDServer

extension ServerTests {
    @Suite("Replies of a burst leave together")
    struct BatchedReplyTests {
        /// Replies held during a burst are gathered and sent at once; when the
        /// peer is not reading and only part of the batch fits the socket,
        /// the rest goes through the writer thread. Every request must be
        /// counted answered exactly once (counting the leftover as another
        /// reply drove the in-flight count below zero, and shutdown then
        /// waited for ever), and every byte must arrive, in order.
        @Test func aBatchThatOnlyPartlyFitsTheSocketCountsEachReplyOnce() throws {
            let pair = try SocketPair()
            var small: Int32 = 4096
            setsockopt(pair.ends.0, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            let answered = Mutex(0)
            let channel = ReplyChannel(
                socket: Socket(descriptor: pair.ends.0), pool: BufferPool(),
                completed: { replies, _ in answered.withLock { $0 += replies } }, onFailure: { _ in })
            defer { channel.close() }
            let count = 1000
            let plug = SubmissionPlug()
            for round in 0..<(count / ReplyChannel.holdCountMaximum) {
                plug.start()
                for index in 0..<ReplyChannel.holdCountMaximum {
                    let cookie = UInt64(round * ReplyChannel.holdCountMaximum + index)
                    channel.send(
                        .frame(ReplyHeader.structuredError(cookie: cookie, error: .io, message: String(repeating: "x", count: 4000))))
                }
                plug.finish()
            }
            // Nothing was read so far: most replies are queued behind a full socket.
            var cookies: [UInt64] = []
            while cookies.count < count {
                var header = [UInt8](repeating: 0, count: ReplyHeader.structuredLength)
                try receiveExactly(pair.ends.1, &header)
                let length = Int(header[16...19].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                var payload = [UInt8](repeating: 0, count: length)
                try receiveExactly(pair.ends.1, &payload)
                cookies.append(header[8...15].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            }
            #expect(cookies == (0..<UInt64(count)).map { $0 }, "every reply arrives once, in the order sent")
            // The writer thread counts a reply just after its bytes leave.
            var polls = 0
            while answered.withLock({ $0 }) < count && polls < 30_000 {
                usleep(1000)
                polls += 1
            }
            #expect(answered.withLock { $0 } == count)
        }

        /// Any plugged thread holds its small replies: the connection's
        /// reader mid-burst, and a replication link's reader working through
        /// a burst of the peer's acknowledgements (each finishes a write and
        /// makes its reply there). They leave in one write when the plug
        /// finishes; an unplugged thread's reply leaves at once.
        @Test func repliesMadeOnAPluggedThreadLeaveTogetherWhenItsPlugFinishes() throws {
            let pair = try SocketPair()
            let answered = Mutex(0)
            let channel = ReplyChannel(
                socket: Socket(descriptor: pair.ends.0), pool: BufferPool(),
                completed: { replies, _ in answered.withLock { $0 += replies } }, onFailure: { _ in })
            defer { channel.close() }
            let ack = { (cookie: UInt64) -> OutgoingReply in
                .inline(length: ReplyHeader.simpleLength) { ReplyHeader.writeSimple(into: $0, cookie: cookie, error: .none) }
            }
            let plug = SubmissionPlug()
            plug.start()
            for cookie in 1...UInt64(ReplyChannel.holdCountMaximum - 1) { channel.send(ack(cookie)) }
            var scratch = [UInt8](repeating: 0, count: 4096)
            let early = scratch.withUnsafeMutableBytes { recv(pair.ends.1, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_PEEK)) }
            #expect(early < 0 && errno == EAGAIN, "nothing leaves while the plug is in")
            #expect(answered.withLock { $0 } == 0)
            plug.finish()
            var held = [UInt8](repeating: 0, count: ReplyHeader.simpleLength * (ReplyChannel.holdCountMaximum - 1))
            try receiveExactly(pair.ends.1, &held)
            #expect(answered.withLock { $0 } == ReplyChannel.holdCountMaximum - 1)

            channel.send(ack(99))
            var single = [UInt8](repeating: 0, count: ReplyHeader.simpleLength)
            let count = single.withUnsafeMutableBytes { recv(pair.ends.1, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            #expect(count == ReplyHeader.simpleLength, "an unplugged thread's reply is sent at once")
        }

        /// The burst's first request is plugged too, marked as the first: its
        /// reply leaves at once, so the client starts on it while the rest is
        /// served (held, the client spent more per write: bench/README, "The
        /// first frame of a burst"), while a writer that feeds a peer (a
        /// replication link's, which holds the first of a burst) keeps its
        /// message for the burst's one `sendmsg`. Later replies wait.
        @Test func theFirstReplyOfABurstLeavesAtOnceWhileALinksFrameWaits() throws {
            let replies = try SocketPair()
            let link = try SocketPair()
            let channel = ReplyChannel(
                socket: Socket(descriptor: replies.ends.0), pool: BufferPool(), completed: { _, _ in }, onFailure: { _ in })
            defer { channel.close() }
            let frames = SocketWriter(socket: Socket(descriptor: link.ends.0), holdCountMaximum: 16, onFailure: { _ in })
            defer { frames.close() }
            let ack = { (cookie: UInt64) -> OutgoingReply in
                .inline(length: ReplyHeader.simpleLength) { ReplyHeader.writeSimple(into: $0, cookie: cookie, error: .none) }
            }
            let plug = SubmissionPlug()
            plug.start(firstOfBurst: true)
            channel.send(ack(1))
            frames.send(ack(1))
            var scratch = [UInt8](repeating: 0, count: 4096)
            let first = scratch.withUnsafeMutableBytes { recv(replies.ends.1, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            #expect(first == ReplyHeader.simpleLength, "the burst's first reply left at once")
            let frame = scratch.withUnsafeMutableBytes { recv(link.ends.1, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            #expect(frame < 0 && errno == EAGAIN, "the link's first frame of the burst waits")

            plug.start(firstOfBurst: false)
            channel.send(ack(2))
            frames.send(ack(2))
            let second = scratch.withUnsafeMutableBytes { recv(replies.ends.1, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            #expect(second < 0 && errno == EAGAIN, "mid-burst, a reply waits")
            plug.finish()
            var held = [UInt8](repeating: 0, count: ReplyHeader.simpleLength)
            try receiveExactly(replies.ends.1, &held)
            var both = [UInt8](repeating: 0, count: 2 * ReplyHeader.simpleLength)
            try receiveExactly(link.ends.1, &both)
        }

        private func receiveExactly(_ descriptor: Int32, _ bytes: inout [UInt8]) throws {
            var done = 0
            let total = bytes.count
            while done < total {
                let count = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + done, total - done, 0) }
                guard count > 0 else { throw ClientError.system("recv", errno) }
                done += count
            }
        }
    }
}
