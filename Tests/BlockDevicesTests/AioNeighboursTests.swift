import CRados
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import RadosDevice

/// A librados callback that finds later pieces of its pool already complete
/// finishes them itself, so that their replies leave with its own in one
/// send; each piece must still be finished exactly once, and its own
/// callback then only releases it.
@Suite struct AioNeighboursTests {
    private struct Second {
        /// The second write's completion, as an address: a pointer is not Sendable.
        var completion: UInt?
        var finished: [Int32] = []
        var firstFinished = false
    }

    /// A Sendable home for the test's shared state and the payloads.
    private final class Shared: Sendable {
        let state = Mutex(Second())
        // Safety: written once here, only read afterwards.
        nonisolated(unsafe) let first = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        nonisolated(unsafe) let second = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)

        init() {
            first.copyBytes(from: pattern(4096, seed: 1))
            second.copyBytes(from: pattern(4096, seed: 2))
        }

        deinit {
            first.deallocate()
            second.deallocate()
        }
    }

    @Test func aPieceCompleteBehindTheRunningCallbackIsFinishedByItOnce() async throws {
        // One callback thread: librados then runs callbacks one at a time, in
        // the order RADOS answered.
        let pool = try TestCluster.pool(options: ["librados_thread_count": "1"])
        let object = ObjectName("aio-neighbours-\(UUID().uuidString)")
        let shared = Shared()
        let statistics = RadosStatistics()
        let finishedBefore = pool.neighbours.finishedByNeighbours.load(ordering: .relaxed)
        let write: (AioPiece, rados_completion_t) -> Int32 = { piece, completion in
            guard case let .write(bytes) = piece.kind else { return -EINVAL }
            let source = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
            return piece.object.withCString { librados.aio_write(pool.context, $0, completion, source, bytes.count, 0) }
        }

        // The first write's callback holds librados' callback thread until
        // the second write (to the same object, so RADOS answers it after
        // the first) is complete: the second's callback then waits behind
        // it, and the second is complete when the first's callback looks.
        AioGroup.start(
            [AioPiece(object: object, kind: .write(UnsafeRawBufferPointer(shared.first)))], on: pool, as: .write,
            countedIn: statistics, submit: write
        ) { status in
            #expect(status == 0)
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                let complete = shared.state.withLock { state in
                    state.completion.map { librados.aio_is_complete(UnsafeMutableRawPointer(bitPattern: $0)) != 0 } ?? false
                }
                if complete { break }
                usleep(1000)
            }
            shared.state.withLock { $0.firstFinished = true }
        }
        let second = AioPiece(object: object, kind: .write(UnsafeRawBufferPointer(shared.second)))
        AioGroup.start(
            [second], on: pool, as: .write,
            countedIn: statistics,
            submit: { piece, completion in
                let address = UInt(bitPattern: completion)
                shared.state.withLock { $0.completion = address }
                return write(piece, completion)
            }
        ) { status in
            shared.state.withLock { $0.finished.append(status) }
        }

        try await waitUntil("both writes finished and the second's own callback has run") {
            shared.state.withLock { $0.firstFinished && !$0.finished.isEmpty } && !pool.neighbours.contains(second)
        }
        #expect(shared.state.withLock { $0.finished } == [0], "finished once, with success")
        #expect(pool.neighbours.finishedByNeighbours.load(ordering: .relaxed) > finishedBefore)
        let stored = object.withCString { name in
            var bytes = [UInt8](repeating: 0, count: 4096)
            let read = bytes.withUnsafeMutableBytes {
                librados.read(pool.context, name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4096, 0)
            }
            return read == 4096 ? bytes : []
        }
        #expect(stored == pattern(4096, seed: 2), "the second write is the one that stands")
        _ = object.withCString { librados.remove(pool.context, $0) }
    }
}
