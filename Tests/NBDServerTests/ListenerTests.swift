import Foundation
import Glibc
import Synchronization
import Testing

@testable import NBDServer
@testable import Sockets

extension ServerTests {
    @Suite("Listener")
    struct ListenerTests {
        /// A listener closed while its accept thread is busy with the last
        /// client (between two `accept` calls) must not leave that thread an
        /// open door: the freed descriptor number goes to the next socket
        /// the process opens, and the stale thread's next `accept` took the
        /// clients of whatever listened there. In CI, a server's shut-down
        /// accept loop took the next test's client and hung up on it.
        @Test func aClosedListenersAcceptThreadNeverTakesClientsOfTheSocketThatComesAfterIt() throws {
            let old = try Listener(.tcp(host: "127.0.0.1", port: 0))
            let oldAccepted = Mutex(0)
            let entered = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let loopEnded = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                old.acceptLoop { socket in
                    oldAccepted.withLock { $0 += 1 }
                    entered.signal()
                    release.wait()
                    socket.close()
                }
                loopEnded.signal()
            }
            let first = try RawClient(tcpPort: old.boundPort)
            #expect(entered.wait(timeout: .now() + 120) == .success, "the listener accepts its client")

            old.close()
            // The next listener of the process, opened while the old accept
            // thread is still busy: had close() freed the old number, this
            // socket would have taken it.
            let next = try Listener(.tcp(host: "127.0.0.1", port: 0))
            defer { next.close() }
            release.signal()
            #expect(loopEnded.wait(timeout: .now() + 120) == .success, "a closed listener's accept loop ends")

            let second = try RawClient(tcpPort: next.boundPort)
            var ready = pollfd(fd: next.descriptor, events: Int16(POLLIN), revents: 0)
            #expect(poll(&ready, 1, 5000) == 1, "the next listener gets its own client")
            let taken = accept(next.descriptor, nil, nil)
            #expect(taken >= 0)
            if taken >= 0 { close(taken) }
            #expect(oldAccepted.withLock { $0 } == 1, "the closed listener took no client after its first")
            first.close()
            second.close()
        }
    }
}
