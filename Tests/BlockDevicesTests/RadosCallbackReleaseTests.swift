import CRados
import Foundation
import TestSupport
import Testing

@testable import RadosDevice

/// A device that is never closed is closed by its deinit, wherever its last
/// reference goes. Requests end in librados' callbacks, whose closures may
/// hold the device, so that can be inside a callback, where shutting
/// librados down joins the callback's own thread (`std::terminate`,
/// "Resource deadlock avoided": seen in the conformance suite, whose
/// devices are left to deinit). There the close must move to a thread of
/// its own.
@Suite struct RadosCallbackReleaseTests {
    private final class WeakCluster: @unchecked Sendable {
        // Safety: set before the request; read by the test's waiting loop.
        weak var cluster: RadosCluster?
    }

    @Test func aPoolReleasedInsideACallbackIsClosedOffThatThread() async throws {
        let watched = WeakCluster()
        let letGo = try startWriteHoldingTheLastReference(watched)
        letGo.signal()
        try await waitUntil("the pool was closed and its cluster connection freed, off the callback's thread") {
            watched.cluster == nil
        }
    }

    /// Starts a write to a fresh pool whose only reference, once this
    /// returns, is in the closure that runs when the write ends; that
    /// closure holds librados' callback until the returned semaphore is
    /// signalled, so the reference goes inside the callback.
    private func startWriteHoldingTheLastReference(_ watched: WeakCluster) throws -> DispatchSemaphore {
        let pool = try TestCluster.pool()
        watched.cluster = pool.cluster
        let letGo = DispatchSemaphore(value: 0)
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
        defer { data.deallocate() }  // librados copies a write's bytes at submission
        data.initializeMemory(as: UInt8.self, repeating: 7)
        AioGroup.start(
            [AioPiece(object: ObjectName("callback-release-\(UUID().uuidString)"), kind: .write(UnsafeRawBufferPointer(data)))],
            on: pool, as: .write, countedIn: RadosStatistics(),
            submit: { piece, completion in
                guard case let .write(bytes) = piece.kind else { return -EINVAL }
                let source = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
                return piece.object.withCString { librados.aio_write(pool.context, $0, completion, source, bytes.count, 0) }
            }
        ) { [pool] status in
            letGo.wait()
            withExtendedLifetime(pool) {}
            _ = status
        }
        return letGo
    }
}
