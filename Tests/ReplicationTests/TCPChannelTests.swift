import Foundation
import Glibc
import Replication
import Sockets
import Synchronization
import TLS
import TestSupport
import Testing

/// The replication channel over a socket whose peer has gone or stopped reading.
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

    /// Sending never blocks its caller, which may be a thread of the
    /// cooperative pool: with a peer that reads nothing, a task's sends
    /// return at once (queued), and only the link's writer thread waits.
    /// A borrowed payload stays the sender's responsibility until released,
    /// and is released once written; everything arrives, in order.
    @Test func aTaskSendingToAPeerThatStopsReadingIsNeverBlocked() async throws {
        let pair = try StalledPair()
        defer { pair.closeBoth() }
        let channel = TCPChannel(socket: Socket(descriptor: pair.sender), peerName: "a stalled peer")
        let large = Payload(count: 1 << 20, seed: 1)
        defer { large.free() }
        let small = pattern(4096, seed: 2)
        let sent = Shared<SendTicket?>(nil)
        Task.detached {
            let ticket = try channel.send(
                FrameHeader(.write, tag: 1, length: UInt32(large.count), payloadLength: UInt32(large.count)),
                borrowing: UnsafeRawBufferPointer(large.bytes))
            for tag in 2...64 {
                try small.withUnsafeBytes {
                    try channel.send(FrameHeader(.write, tag: UInt64(tag), length: 4096, payloadLength: 4096), data: $0)
                }
            }
            sent.value.withLock { $0 = ticket }
        }
        try await waitUntil("the sends returned though the peer reads nothing", timeout: .seconds(120)) {
            sent.value.withLock { $0 } != nil
        }
        let ticket = try #require(sent.value.withLock { $0 })
        let released = Shared(false)
        let waiter = Task {
            await channel.released(ticket)
            released.value.withLock { $0 = true }
        }
        // A MiB cannot fit a socket whose peer has read nothing.
        #expect(!released.value.withLock { $0 }, "a borrowed payload is not released before it is written")

        let received = try readFrames(pair.receiver, count: 64)
        #expect(received.first?.tag == 1 && received.first?.payload == large.array)
        #expect(received.dropFirst().map(\.tag) == (2...64).map { UInt64($0) })
        #expect(received.dropFirst().allSatisfy { $0.payload == small })
        await waiter.value
        #expect(released.value.withLock { $0 })
    }

    /// When the link fails while the writer thread is in the middle of a
    /// borrowed payload, the sender gets the payload back only once that
    /// write has returned: bytes the sender writes into it afterwards never
    /// reach the wire.
    @Test func aFailedLinkReleasesABorrowedPayloadOnlyOnceTheWriterHasLetGo() async throws {
        let pair = try StalledPair()
        defer { pair.closeBoth() }
        let channel = TCPChannel(socket: Socket(descriptor: pair.sender), peerName: "a stalled peer")
        let large = Payload(count: 1 << 20, seed: 3)
        defer { large.free() }
        let ticket = try channel.send(
            FrameHeader(.write, tag: 1, length: UInt32(large.count), payloadLength: UInt32(large.count)),
            borrowing: UnsafeRawBufferPointer(large.bytes))
        channel.close(.linkLost("the test cut the link"))
        await channel.released(ticket)
        large.bytes.withMemoryRebound(to: UInt8.self) { $0.update(repeating: 0xEE) }
        #expect(throws: ReplicationError.self) {
            try channel.send(FrameHeader(.ack, tag: 2), data: UnsafeRawBufferPointer(start: nil, count: 0))
        }

        var wire: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = scratch.withUnsafeMutableBytes { recv(pair.receiver, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            wire += scratch[..<count]
        }
        #expect(wire.count < FrameHeader.size + large.count, "the stalled write was cut short")
        if wire.count > FrameHeader.size {
            #expect(Array(wire[FrameHeader.size...]) == Array(large.original[..<(wire.count - FrameHeader.size)]))
        }
    }
}

/// The link's reader waits for the next frame as its owner says: a primary
/// with many writes awaiting answers has it block at once, since polling
/// then only yields the CPU between threads that all have work (a context
/// switch per yield). `strace` on the reader thread shows whether it polled.
@Suite struct TCPChannelPollingTests {
    @Test(arguments: [false, true])
    func theReaderPollsForTheNextFrameOnlyWhenItsOwnerSaysItMay(mayPoll: Bool) async throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        defer { close(ends[1]) }
        let yields = try await yieldsWaitingForAFrame(
            reading: Socket(descriptor: ends[0]), sending: Socket(descriptor: ends[1]), mayPoll: mayPoll)
        expect(yields, mayPoll: mayPoll)
    }

    /// The same over the link's TLS (`--peer-psk`), whose record layer does
    /// its own polling.
    @Test(arguments: [false, true])
    func overTLSTheReaderPollsForTheNextFrameOnlyWhenItsOwnerSaysItMay(mayPoll: Bool) async throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        defer { close(ends[1]) }
        let directory = NSTemporaryDirectory() + "buse-psk-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyFile = directory + "/peer.psk"
        try "buse:\(String(repeating: "5a", count: 32))\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let replica = try TLSCredentials.peerPSK(file: keyFile, client: false)
        let primary = try TLSCredentials.peerPSK(file: keyFile, client: true)
        let (ends0, ends1) = (ends[0], ends[1])
        async let accepted = runOnThread { try replica.handshake(on: Socket(descriptor: ends0)).0 }
        async let connected = runOnThread { try primary.handshake(on: Socket(descriptor: ends1)).0 }
        let (reading, sending) = try await (accepted, connected)
        let yields = try await yieldsWaitingForAFrame(reading: reading, sending: sending, mayPoll: mayPoll)
        expect(yields, mayPoll: mayPoll)
    }

    private func expect(_ yields: Int, mayPoll: Bool) {
        if mayPoll {
            #expect(yields > 0, "the reader blocked at once though it was told it may poll")
        } else {
            #expect(yields == 0, "the reader polled (\(yields) sched_yield calls) though it was told not to")
        }
    }

    /// Starts a channel on `reading`, sends it one frame from `sending` once
    /// its reader is blocked, and counts the reader's `sched_yield` calls
    /// until it is blocked again, waiting for the next.
    private func yieldsWaitingForAFrame(reading: Socket, sending: Socket, mayPoll: Bool) async throws -> Int {
        let channel = TCPChannel(socket: reading, peerName: "a test peer")
        let received = Shared(0)
        let closed = Shared(false)
        channel.start(
            onFrame: { _ in received.value.withLock { $0 += 1 } }, onClose: { _ in closed.value.withLock { $0 = true } },
            mayPoll: { mayPoll })
        let descriptor = reading.descriptor
        try await waitUntil("the reader waits for the first frame") { ThreadSyscall.threadBlockedReceiving(on: descriptor) != nil }
        let reader = try #require(ThreadSyscall.threadBlockedReceiving(on: descriptor))
        let trace = try await SyscallTrace(thread: reader, calls: ["sched_yield"])
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes.withUnsafeMutableBytes { FrameHeader(.ack, tag: 1).encode(into: $0) }
        try sending.writeAll(bytes)
        try await waitUntil("the frame arrived") { received.value.withLock { $0 } == 1 }
        try await waitUntil("the reader waits again") { ThreadSyscall(thread: reader)?.isBlockingReceive(on: descriptor) == true }
        let yields = try await trace.stop().filter { $0 == "sched_yield" }.count
        channel.close(.linkLost("the test is over"))
        try await waitUntil("the channel closed") { closed.value.withLock { $0 } }
        return yields
    }
}

/// A socketpair with small buffers whose receiving end reads only when told.
private struct StalledPair {
    let sender: Int32
    let receiver: Int32

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else { throw SocketError.system("socketpair", errno) }
        var small: Int32 = 4096
        setsockopt(ends[0], SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(ends[1], SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        (sender, receiver) = (ends[0], ends[1])
    }

    func closeBoth() {
        close(sender)
        close(receiver)
    }
}

/// A value a test's tasks share.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

/// Memory a test lends to the channel, with a copy of what it first held.
// Safety: written before it is lent and after it is released, never while lent.
private struct Payload: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    let original: [UInt8]
    var count: Int { bytes.count }
    var array: [UInt8] { Array(bytes) }

    init(count: Int, seed: UInt64) {
        original = pattern(count, seed: seed)
        bytes = .allocate(byteCount: count, alignment: 4096)
        original.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    func free() { bytes.deallocate() }
}

private func readFrames(_ descriptor: Int32, count: Int) throws -> [(tag: UInt64, payload: [UInt8])] {
    var frames: [(tag: UInt64, payload: [UInt8])] = []
    for _ in 0..<count {
        let header = try receive(descriptor, FrameHeader.size).withUnsafeBytes { try FrameHeader(decoding: $0) }
        frames.append((header.tag, try receive(descriptor, Int(header.payloadLength))))
    }
    return frames
}

private func receive(_ descriptor: Int32, _ count: Int) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let result = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + done, count - done, 0) }
        guard result > 0 else { throw SocketError.system("recv", result < 0 ? errno : 0) }
        done += result
    }
    return bytes
}
