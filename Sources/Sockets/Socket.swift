import Glibc

/// A connected stream socket (TCP, Unix or one end of a socketpair), with the
/// blocking reads and writes the connection threads use. Thin over the system
/// calls; errno becomes ``SocketError`` right here.
public struct Socket: Sendable {
    public let descriptor: Int32
    /// TLS, once negotiated: reads and writes then go through it.
    public let records: (any RecordLayer)?

    public init(descriptor: Int32) {
        self.descriptor = descriptor
        self.records = nil
    }

    /// The same socket, its reads and writes through `records` from now on.
    public init(descriptor: Int32, records: any RecordLayer) {
        self.descriptor = descriptor
        self.records = records
    }

    /// Fills `buffer` entirely. Throws `.closed` on a clean end of stream
    /// before the first byte, `.truncated` on one in the middle.
    public func readExactly(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) {
        var done = 0
        if let records {
            while done < buffer.count {
                let result = try records.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), waiting: false)
                if result == 0 { throw done == 0 ? .closed : .truncated }
                done += result
            }
            return
        }
        while done < buffer.count {
            let result = recv(descriptor, buffer.baseAddress! + done, buffer.count - done, 0)
            if result > 0 {
                done += result
            } else if result == 0 {
                throw done == 0 ? .closed : .truncated
            } else if errno != EINTR {
                throw .system("recv", errno)
            }
        }
    }

    /// Reads whatever is available, at least one byte; 0 means end of stream.
    /// Polls first (``receive(into:count:)``): this is how the reader waits
    /// for the next request.
    public func readSome(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
        var alwaysPolling = PollBudget()
        return try readSome(into: buffer, polling: &alwaysPolling)
    }

    /// ``readSome(into:)`` polling as `budget` has learnt pays for this
    /// reader, and only if `mayPoll` (see ``receive(into:count:polling:mayPoll:)``).
    public func readSome(
        into buffer: UnsafeMutableRawBufferPointer, polling budget: inout PollBudget, mayPoll: Bool = true
    ) throws(SocketError) -> Int {
        // Through TLS, the record layer polls with its own budget, and only if `mayPoll`.
        if let records { return try records.receive(into: buffer, waiting: mayPoll) }
        while true {
            let result = receive(into: buffer.baseAddress!, count: buffer.count, polling: &budget, mayPoll: mayPoll)
            if result >= 0 { return result }
            if errno != EINTR { throw .system("recv", errno) }
        }
    }

    /// How long a read polls for data before it blocks. On these virtual
    /// machines an idle CPU halts, and waking a thread blocked in `recv` costs
    /// tens of microseconds; a client waiting for its reply (iodepth 1) sends
    /// its next request within about that time, so polling for it keeps the
    /// reader on a running CPU and doubled 4K iodepth 1 IOPS (measured). A
    /// client that stays silent costs at most this much CPU per wait, and
    /// after a few such waits none (``PollBudget``). Only the wait for a
    /// request polls: polling while a large WRITE payload streams in took
    /// CPU from the client and cut 1M write throughput.
    ///
    /// 150 µs, not the 50 first chosen: on a VM whose wake-ups cost twice
    /// as much (a blocked round trip 98 µs against 48), a replicated write's
    /// answer came later than 50 µs, the readers learnt to block, and 4K
    /// iodepth 1 took 4.7× the unreplicated latency; with 150 µs, 2.0×, for
    /// less CPU per write (bench/README, "A poll that outlasts the round trip").
    static let pollNanoseconds = 150_000

    /// One `recv`: polls with non-blocking calls for up to ``pollNanoseconds``,
    /// yielding the CPU between them so a poll never keeps the client (which
    /// may share this CPU) from running, then blocks. Returns as `recv` does.
    /// Public for a ``RecordLayer`` that waits for its peer's next record.
    public func receive(into pointer: UnsafeMutableRawPointer, count: Int) -> Int {
        var alwaysPolling = PollBudget()
        return receive(into: pointer, count: count, polling: &alwaysPolling)
    }

    /// One `recv` that polls first only when `budget` says polling has been
    /// paying (``PollBudget``), and tells it how this wait ended.
    ///
    /// `mayPoll` false blocks at once, and teaches the budget nothing: the
    /// caller knows the wait is for a peer that is itself waiting on other
    /// threads (a client with many requests unanswered). Polling there only
    /// yields the CPU back and forth between busy threads: on two cores with
    /// a replicated pair at iodepth 16, a context switch per yield that cost
    /// the primary 1.5 µs per write (see bench/README, "Replication").
    public func receive(
        into pointer: UnsafeMutableRawPointer, count: Int, polling budget: inout PollBudget, mayPoll: Bool = true
    ) -> Int {
        guard mayPoll else { return recv(descriptor, pointer, count, 0) }
        let first = recv(descriptor, pointer, count, Int32(MSG_DONTWAIT))
        if first >= 0 || (errno != EAGAIN && errno != EINTR) { return first }
        let start = Self.now()
        guard budget.shouldPoll() else {
            let result = recv(descriptor, pointer, count, 0)
            budget.blocked(nanoseconds: Self.now() - start)
            return result
        }
        while Self.now() - start < Self.pollNanoseconds {
            sched_yield()
            // Asks with poll, which reads the socket's state without taking
            // its lock. A recv takes the lock, and sleeps on it whenever
            // another thread is sending on this socket (the link reader a
            // reply, the NBD reader a replicated write's frame): at
            // iodepth 1 that was a blocked thread, and a wake-up, per write,
            // the very cost polling is there to save.
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 0) > 0 else { continue }
            let result = recv(descriptor, pointer, count, Int32(MSG_DONTWAIT))
            if result >= 0 || (errno != EAGAIN && errno != EINTR) {
                budget.polled(caught: true)
                return result
            }
        }
        budget.polled(caught: false)
        return recv(descriptor, pointer, count, 0)
    }

    private static func now() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }

    public func readExactly(count: Int) throws(SocketError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SocketError) in try readExactly(into: buffer) }
        }.get()
        return bytes
    }

    /// Reads and discards `count` bytes in small pieces, never holding them.
    public func skip(_ count: UInt64) throws(SocketError) {
        var remaining = count
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        while remaining > 0 {
            let piece = Int(min(remaining, UInt64(scratch.count)))
            try readExactly(into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<piece]))
            remaining -= UInt64(piece)
        }
    }

    /// Writes all of `bytes`, blocking as needed.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SocketError) {
        var done = 0
        if let records {
            while done < bytes.count {
                var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + done), iov_len: bytes.count - done)
                done += try records.send(&vector, count: 1, blocking: true)
            }
            return
        }
        while done < bytes.count {
            let result = send(descriptor, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if result >= 0 {
                done += result
            } else if errno != EINTR {
                throw .system("send", errno)
            }
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(SocketError) {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(SocketError) in try writeAll(buffer) }
        }.get()
    }

    /// Stops further reads and writes, waking a thread blocked in either.
    public func shutdown() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }

    public func close() { _ = Glibc.close(descriptor) }
}

public enum SocketError: Error, CustomStringConvertible, Equatable {
    /// The peer closed the connection cleanly between frames.
    case closed
    /// The peer closed the connection in the middle of a frame.
    case truncated
    case system(String, Int32)
    /// The record layer (TLS) failed: a bad record, a failed handshake.
    case records(String)

    public var description: String {
        switch self {
        case let .records(message): message
        case .closed: "connection closed by peer"
        case .truncated: "connection closed by peer in the middle of a frame"
        case let .system(call, code): "\(call): \(String(cString: strerror(code)))"
        }
    }
}
