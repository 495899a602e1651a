import Replication
import Synchronization
import TestSupport
import Testing

@Suite("Range lock")
struct RangeLockTests {
    @Test func disjointRangesDoNotWait() async {
        let lock = RangeLock()
        let first = await lock.lock(0..<4096)
        let second = await lock.lock(4096..<8192)
        #expect(lock.count == 2)
        lock.release(first)
        lock.release(second)
        #expect(lock.count == 0)
    }

    @Test func overlappingRangesRunInTheOrderTheyWereEnqueued() async {
        let lock = RangeLock()
        let order = Recorded()
        let held = lock.enqueue(0..<8192)
        let tickets = (1...5).map { index in (index, lock.enqueue(UInt64(index * 512)..<UInt64(index * 512 + 4096))) }
        await withTaskGroup(of: Void.self) { group in
            for (index, ticket) in tickets.reversed() {
                group.addTask {
                    await lock.wait(ticket)
                    order.items.withLock { $0.append(index) }
                    lock.release(ticket)
                }
            }
            // Every one of them has reached `wait` and is parked behind `held`.
            try? await waitUntil("all five wait") { lock.waiterCount == 5 }
            #expect(lock.waiterCount == 5)
            #expect(order.items.withLock { $0 }.isEmpty, "nothing overlapping may run while the first holds the range")
            lock.release(held)
        }
        #expect(order.items.withLock { $0 } == [1, 2, 3, 4, 5])
    }
}

final class Recorded: Sendable {
    let items = Mutex<[Int]>([])
}
