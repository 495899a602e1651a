import Replication
import Testing

/// How two nodes decide, from their states, what to copy when they pair.
@Suite("Pairing decisions")
struct SyncDecisionTests {
    func primary(generation: UInt64 = 30, history: [UInt64] = [20, 10], peerGeneration: UInt64 = 20) -> VolumeState {
        var state = VolumeState(size: 1 << 30, role: .primary)
        state.volumeID = 99
        state.generation = generation
        state.history = history
        state.peerGeneration = peerGeneration
        return state
    }

    func peer(generation: UInt64, history: [UInt64] = [], volumeID: UInt64 = 99, size: UInt64 = 1 << 30) -> VolumeState {
        var state = VolumeState(size: size, role: .secondary)
        state.volumeID = volumeID
        state.generation = generation
        state.history = history
        return state
    }

    @Test func aNewPeerGetsEverything() {
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 0, volumeID: 0)) == .full)
    }

    @Test func aPeerAtTheGenerationTheLogTracksGetsOnlyTheMarkedRegions() {
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 20, history: [10])) == .incremental)
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 30, history: [20, 10])) == .incremental)
    }

    @Test func aPeerFurtherBehindThanTheLogGetsEverything() {
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 10)) == .full)
    }

    @Test func aPeerThatIsAheadIsRefused() {
        guard case let .refuse(why) = SyncDecision.decide(primary: primary(), peer: peer(generation: 40, history: [30, 20, 10])) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(why.contains("ahead"))
    }

    @Test func twoNodesWrittenIndependentlyAreASplitBrain() {
        guard case let .refuse(why) = SyncDecision.decide(primary: primary(), peer: peer(generation: 41, history: [20, 10])) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(why.contains("split brain") && why.contains("discard-my-data"))
    }

    @Test func anotherVolumeOrSizeIsRefused() {
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 20, volumeID: 98)) != .incremental)
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 20, size: 1 << 20)) != .incremental)
        #expect(SyncDecision.decide(primary: primary(), peer: peer(generation: 0, volumeID: 0, size: 1 << 20)) != .full)
    }
}
