import Glibc
import LocalDevices
import NBDProtocol
import NBDServer
import Sockets
import TestSupport
import Testing

extension ServerTests {
    /// How the connection's reader waits for the next request. Polling
    /// (`sched_yield` between non-blocking looks) saves a wake-up when the
    /// client answers a reply at once, as at iodepth 1; it is waste when
    /// the client has several requests unanswered and waits for their
    /// replies, which other threads make: a replicated write at iodepth 16
    /// paid a context switch per yield. `strace` on the reader thread shows
    /// which it did, with no timing involved.
    @Suite("Waiting for the next request: polling only while the client may be waiting")
    struct ReaderPollingTests {
        @Test func withSeveralRequestsUnansweredTheReaderBlocksWithoutPolling() async throws {
            let yields = try await yieldsWhileWaiting(withUnanswered: 3)
            #expect(yields == 0, "the reader polled (\(yields) sched_yield calls) with 3 requests unanswered")
        }

        @Test func withOneRequestUnansweredTheReaderPollsBeforeItBlocks() async throws {
            let yields = try await yieldsWhileWaiting(withUnanswered: 1)
            #expect(yields > 0, "the reader blocked at once with 1 request unanswered")
        }

        /// Holds `count` WRITEs in the device and counts the reader's
        /// `sched_yield` calls from the moment the last of them is sent
        /// until the reader is blocked waiting for the next request.
        private func yieldsWhileWaiting(withUnanswered count: Int) async throws -> Int {
            let gate = GateDevice(MemoryDevice(size: 1 << 20), holding: [.write])
            return try await withServer([Export(name: "disk", device: gate)]) { fixture in
                var ends: [Int32] = [-1, -1]
                try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
                let serverEnd = ends[0]
                fixture.server.accept(Socket(descriptor: serverEnd))
                let client = RawClient(connected: ends[1])
                try await onOwnThread { _ = try client.handshake(export: "disk") }
                @Sendable func write(_ index: Int) throws {
                    try client.sendRequest(
                        Request(.write, cookie: UInt64(index), offset: UInt64(index * 4096), length: 4096),
                        payload: pattern(4096, seed: UInt64(index)))
                }
                try await onOwnThread {
                    for index in 0..<(count - 1) { try write(index) }
                    try #require(gate.waitUntilHolding(count - 1, seconds: 120), "the server did not take the first writes")
                }
                try await waitUntil("the reader waits for the next request") {
                    ThreadSyscall.threadBlockedReceiving(on: serverEnd) != nil
                }
                let reader = try #require(ThreadSyscall.threadBlockedReceiving(on: serverEnd))
                let trace = try await SyscallTrace(thread: reader, calls: ["sched_yield"])
                try await onOwnThread {
                    try write(count - 1)
                    try #require(gate.waitUntilHolding(count, seconds: 120), "the server did not take the last write")
                }
                // Holding the last write means the reader's previous wait
                // ended; blocked in recv again, it has polled or not.
                try await waitUntil("the reader waits again") {
                    ThreadSyscall(thread: reader)?.isBlockingReceive(on: serverEnd) == true
                }
                let yields = try await trace.stop().filter { $0 == "sched_yield" }.count
                gate.open()
                try await onOwnThread {
                    for _ in 0..<count { #expect(try client.readReply().error == 0) }
                    try client.disconnect()
                }
                return yields
            }
        }
    }
}
