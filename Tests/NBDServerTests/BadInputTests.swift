import Foundation
import NBDProtocol
import NBDServer
import Synchronization
import TestSupport
import Testing

extension ServerTests {
    /// Thousands of malformed frames from a seeded generator, over many
    /// short connections, at both phases of the protocol, while two
    /// well-behaved clients keep working on the same server.
    ///
    /// To reproduce a failure, run with `BUSE_FUZZ_SEED=<seed in hex>`.
    @Suite("Bad input")
    struct BadInputTests {
        static let connections = 4_000
        static let malformedFramesRequired = 10_000
        static let workers = 3

        @Test(.timeLimit(.minutes(2)))
        func malformedFramesNeverCrashTheServerNorDisturbWellBehavedClients() async throws {
            let seed =
                ProcessInfo.processInfo.environment["BUSE_FUZZ_SEED"].flatMap { UInt64($0, radix: 16) }
                ?? UInt64.random(in: 0...UInt64.max)
            let reproduce = "(seed \(String(seed, radix: 16)); rerun with BUSE_FUZZ_SEED=\(String(seed, radix: 16)))"
            let fixture = try ServerFixture([TestExports.memory("disk"), TestExports.readOnly("archive")], defaultName: "disk")
            #expect(OpenSockets.count(servedAt: fixture.socketPath) == 1, "a fresh server holds only its listening socket")
            let tally = Tally()

            let writer = Task { try await onOwnThread { try WellBehavedClient.writeAndReadBack(fixture, until: tally) } }
            let reader = Task { try await onOwnThread { try WellBehavedClient.readZeros(fixture, until: tally) } }
            let runner = FuzzRunner(socketPath: fixture.socketPath)
            try await onThreads(Self.workers) { _ in
                while true {
                    let index = tally.next.add(1, ordering: .relaxed).oldValue
                    // A few failures say enough; each may have cost a timeout.
                    guard index < Self.connections, tally.failureCount < 10 else { return }
                    var random = SeededGenerator(seed: seed &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03)
                    let script = HandshakeGenerator.script(&random)
                    tally.malformed.add(script.malformedFrames, ordering: .relaxed)
                    do {
                        try runner.run(script)
                    } catch {
                        tally.fail("connection \(index) [\(script.summary)]: \(error)")
                    }
                }
            }
            tally.done.store(true, ordering: .releasing)
            let rounds = (try await writer.value, try await reader.value)

            for failure in tally.failures.withLock({ $0.prefix(10) }) {
                Issue.record("\(failure) \(reproduce)")
            }
            let malformed = tally.malformed.load(ordering: .relaxed)
            #expect(malformed >= Self.malformedFramesRequired, "only \(malformed) malformed frames \(reproduce)")
            #expect(rounds.0 > 0 && rounds.1 > 0, "the well-behaved clients never completed a round")
            // Every connection's socket is closed while the server runs on:
            // only its listening socket remains.
            let whileServing = OpenSockets.waitUntilAtMost(1, servedAt: fixture.socketPath)
            #expect(whileServing <= 1, "\(whileServing - 1) sockets leaked \(reproduce)")
            await fixture.stop()
            let afterStop = OpenSockets.waitUntilAtMost(0, servedAt: fixture.socketPath)
            #expect(afterStop == 0, "\(afterStop) sockets left after shutdown")
        }
    }
}

/// Counters shared by the fuzzing threads.
final class Tally: Sendable {
    let next = Atomic<Int>(0)
    let malformed = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
    let failures = Mutex<[String]>([])

    var isDone: Bool { done.load(ordering: .acquiring) }

    func fail(_ message: String) { failures.withLock { $0.append(message) } }

    var failureCount: Int { failures.withLock(\.count) }
}
