import Synchronization

/// Which data objects may exist, in memory, mirrored to the map object.
/// Only a writer (which holds the image lock) has one; its view is
/// authoritative because nobody else writes the image.
final class ObjectMap: Sendable {
    private struct State {
        var bytes: [UInt8]
        /// Objects whose "may exist" byte the cluster holds.
        var stored: [Bool]
        /// Data writes submitted or about to be, per object, until RADOS answers.
        var writesInFlight: [UInt64: Int] = [:]
        /// Objects being removed, and whether a data write overlapped the removal.
        var removals: [UInt64: Removal] = [:]
    }

    private struct Removal {
        var count = 0
        var overlapped = false
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

    /// A data write to these objects is about to be submitted.
    ///
    /// Why writes are counted: a write racing a trim that removes its
    /// object may reach RADOS after the removal and bring the object back.
    /// Calling it absent then would make reads return zeros while RADOS
    /// holds the write, and a restart (or the next first write) would
    /// bring the write's bytes back. So an object is called absent after a
    /// removal only if no data write was in flight at any time during it.
    func writeStarted(_ numbers: some Sequence<UInt64>) {
        state.withLock { state in Self.countIn(numbers, &state) }
    }

    /// ``writeStarted(_:)``, in the same lock as the check that the cluster
    /// already holds "may exist" for every one of `numbers` (then the write
    /// has no map update to wait for); false, with nothing counted, if not.
    func writeStartedIfStored(_ numbers: some Sequence<UInt64>) -> Bool {
        state.withLock { state in
            guard numbers.allSatisfy({ state.stored[Int($0)] }) else { return false }
            Self.countIn(numbers, &state)
            return true
        }
    }

    private static func countIn(_ numbers: some Sequence<UInt64>, _ state: inout State) {
        for number in numbers {
            state.writesInFlight[number, default: 0] += 1
            // Looked up only when a removal runs: the optional-chained
            // write below allocates storage even for a missing key.
            if !state.removals.isEmpty { state.removals[number]?.overlapped = true }
        }
    }

    /// RADOS answered a write begun with ``writeStarted(_:)``.
    func writeEnded(_ numbers: some Sequence<UInt64>) {
        state.withLock { state in
            for number in numbers {
                let left = state.writesInFlight[number, default: 1] - 1
                state.writesInFlight[number] = left > 0 ? left : nil
            }
        }
    }

    /// These objects are about to be removed.
    func removalStarted(_ numbers: [UInt64]) {
        state.withLock { state in
            for number in numbers {
                state.removals[number, default: Removal()].count += 1
                if state.writesInFlight[number] != nil { state.removals[number]!.overlapped = true }
            }
        }
    }

    /// RADOS answered the removal: when it succeeded and no data write
    /// overlapped it, the objects read as absent again (their stored byte
    /// stays 1, as "may exist" is always safe; a later first write stores
    /// it again).
    func removalEnded(_ numbers: [UInt64], removed: Bool) {
        state.withLock { state in
            for number in numbers {
                guard var removal = state.removals[number] else { continue }
                if removed && !removal.overlapped {
                    state.bytes[Int(number)] = 0
                    state.stored[Int(number)] = false
                }
                removal.count -= 1
                state.removals[number] = removal.count > 0 ? removal : nil
            }
        }
    }
}
