import Synchronization

/// Which data objects may exist, in memory, mirrored to the map object.
/// Only a writer (which holds the image lock) has one; its view is
/// authoritative because nobody else writes the image.
final class ObjectMap: Sendable {
    private struct State {
        var bytes: [UInt8]
        /// Objects whose "may exist" byte the cluster holds.
        var stored: [Bool]
    }

    private let state: Mutex<State>

    init(stored bytes: [UInt8], objectCount: UInt64) {
        var padded = Array(bytes.prefix(Int(objectCount)))
        padded += [UInt8](repeating: 0, count: Int(objectCount) - padded.count)
        state = Mutex(State(bytes: padded, stored: padded.map { $0 != 0 }))
    }

    func mayExist(_ number: UInt64) -> Bool { state.withLock { $0.bytes[Int(number)] != 0 } }

    /// Objects among `numbers` whose existence is not yet stored.
    func unstored(_ numbers: some Sequence<UInt64>) -> [UInt64] {
        state.withLock { state in numbers.filter { !state.stored[Int($0)] } }
    }

    /// Called once the cluster holds the bytes: later writes skip the map.
    func markStored(_ numbers: [UInt64]) {
        state.withLock { state in
            for number in numbers {
                state.bytes[Int(number)] = 1
                state.stored[Int(number)] = true
            }
        }
    }

    /// Called after an object was removed. Its stored byte stays 1 ("may
    /// exist" is always safe); a later first write stores it again.
    func markRemoved(_ number: UInt64) {
        state.withLock { state in
            state.bytes[Int(number)] = 0
            state.stored[Int(number)] = false
        }
    }
}
