import Glibc
import Sockets
import Synchronization
import Testing
import Threading

@testable import NBDServer

extension ServerTests {
    /// Over TLS the cipher reads every byte of a reply. A large reply the
    /// connection's reader made (a READ served inline from a file or memory
    /// device) is encrypted on that thread, where its bytes are still in
    /// cache, rather than handed to the socket writer's thread on the
    /// other core; a reply from a thread that serves many connections is
    /// never written there with blocking sends.
    @Suite("A large TLS reply is finished by the reader that made it")
    struct LargeTLSReplyTests {
        static let replyLength = 1 << 20

        /// A reply channel over `records`, made on the calling thread (its reader).
        static func channel(over records: ThrottledRecords, _ pair: SocketPair) -> ReplyChannel {
            ReplyChannel(
                socket: Socket(descriptor: pair.ends.0, records: records), pool: BufferPool(),
                completed: { _, _ in }, onFailure: { _ in })
        }

        @Test func theReaderThreadWritesItsOwnLargeReplyToTheEnd() throws {
            let (records, pair) = (ThrottledRecords(), try SocketPair())
            let channel = Self.channel(over: records, pair)
            defer { channel.close() }
            let payload = [UInt8](repeating: 7, count: Self.replyLength)
            let me = pthread_self()
            payload.withUnsafeBytes { channel.send(Outgoing(copying: $0)) }
            let sends = records.sends
            #expect(sends.reduce(0) { $0 + $1.bytes } == Self.replyLength, "all of it was sent before send returned")
            #expect(sends.contains { $0.blocking }, "the socket took only part without blocking")
            #expect(sends.allSatisfy { pthread_equal($0.thread, me) != 0 }, "every send ran on the reader's thread")
        }

        @Test func aCompletionThreadLeavesTheRestToTheWriterThread() throws {
            let (records, pair) = (ThrottledRecords(), try SocketPair())
            let channel = Self.channel(over: records, pair)
            defer { channel.close() }
            let completer = Mutex<pthread_t?>(nil)
            let sent = ConditionLock(false)
            SystemThread.start(named: "completion") {
                completer.withLock { $0 = pthread_self() }
                let payload = [UInt8](repeating: 7, count: Self.replyLength)
                payload.withUnsafeBytes { channel.send(Outgoing(copying: $0)) }
                sent.withLock { $0 = true }
                sent.broadcast()
            }
            sent.wait(until: { $0 }) { _ in }
            records.waitUntilTaken(Self.replyLength)
            let other = try #require(completer.withLock { $0 })
            let sends = records.sends
            #expect(sends.contains { $0.blocking }, "the rest went with blocking sends")
            #expect(
                sends.allSatisfy { !$0.blocking || pthread_equal($0.thread, other) == 0 },
                "no blocking send ran on the completion thread")
        }

        /// The reader blocks on the socket only for its own client; the
        /// connection ends a client that stopped reading by shutting the
        /// socket down, and that frees the reader.
        @Test(.timeLimit(.minutes(1)))
        func aReaderBlockedOnAClientThatStoppedReadingIsFreedByShutDown() throws {
            let pair = try SocketPair()
            let records = StalledClientRecords(descriptor: pair.ends.0)
            let writer = SocketWriter(
                socket: Socket(descriptor: pair.ends.0, records: records), holdCountMaximum: 1, onFailure: { _ in })
            defer { writer.close() }
            SystemThread.start(named: "terminator") {
                records.waitUntilBlocking()
                writer.shutDown()
            }
            let payload = [UInt8](repeating: 7, count: Self.replyLength)
            payload.withUnsafeBytes { _ = writer.send(Outgoing(copying: $0), finishingHere: true) }
            #expect(records.blockingSendFailed, "the blocked send ended in an error")
            let later = [UInt8](repeating: 1, count: 16)
            #expect(later.withUnsafeBytes { writer.send(Outgoing(copying: $0)) } == nil, "a shut-down writer refuses more")
        }
    }
}

/// A client that stopped reading: a non-blocking send takes 1,000 bytes
/// (without sending them), a blocking one really sends, into the socket the
/// test never reads, until the socket is shut down.
final class StalledClientRecords: RecordLayer, Sendable {
    private let descriptor: Int32
    private let state = ConditionLock((blocking: false, failed: false))

    init(descriptor: Int32) { self.descriptor = descriptor }

    var blockingSendFailed: Bool { state.withLock { $0.failed } }

    func waitUntilBlocking() { state.wait(until: { $0.blocking }) { _ in } }

    func receive(into buffer: UnsafeMutableRawBufferPointer, waiting: Bool) throws(SocketError) -> Int { 0 }

    func send(_ vectors: UnsafePointer<iovec>, count: Int, blocking: Bool) throws(SocketError) -> Int {
        let offered = (0..<count).reduce(0) { $0 + vectors[$1].iov_len }
        guard blocking else { return min(offered, 1000) }
        state.withLock { $0.blocking = true }
        state.broadcast()
        var message = msghdr()
        message.msg_iov = UnsafeMutablePointer(mutating: vectors)
        message.msg_iovlen = count
        let sent = sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL))
        guard sent < 0 else { return sent }
        let code = errno
        state.withLock { $0.failed = true }
        throw .system("sendmsg", code)
    }
}

/// A record layer standing in for TLS over a socket whose buffer is nearly
/// full: a non-blocking send takes at most 1,000 bytes, a blocking one all
/// it is given. It records which thread made each send.
final class ThrottledRecords: RecordLayer, Sendable {
    struct Send {
        let thread: pthread_t
        let blocking: Bool
        let bytes: Int
    }

    private let log = ConditionLock([Send]())

    var sends: [Send] { log.withLock { $0 } }

    func receive(into buffer: UnsafeMutableRawBufferPointer, waiting: Bool) throws(SocketError) -> Int { 0 }

    func send(_ vectors: UnsafePointer<iovec>, count: Int, blocking: Bool) throws(SocketError) -> Int {
        let offered = (0..<count).reduce(0) { $0 + vectors[$1].iov_len }
        let taken = blocking ? offered : min(offered, 1000)
        log.withLock { $0.append(Send(thread: pthread_self(), blocking: blocking, bytes: taken)) }
        log.broadcast()
        return taken
    }

    /// Returns once `total` bytes were taken, by whichever thread.
    func waitUntilTaken(_ total: Int) {
        log.wait(until: { $0.reduce(0) { $0 + $1.bytes } >= total }) { _ in }
    }
}
