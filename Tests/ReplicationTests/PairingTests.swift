import Testing

@testable import Replication

/// The primary's pairing lifecycle as transcripts: each line is an event,
/// the action the machine answers with, and the state it is then in.
@Suite("Pairing lifecycle")
struct PairingTests {
    typealias Line = (event: Pairing.Event, action: String, state: String)

    let a = Self.link("a")
    let b = Self.link("b")
    let lost = ReplicationError.linkLost("reset")
    let busy = "rejectLink(this primary is already replicating or is stopping)"

    @Test func aSessionPairsResyncsReachesSyncAndEndsDisconnected() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.writeBegin, "writeWithoutPeer", "connecting(a)"),
            (.resyncBegin(a), "drainUnreplicated", "resyncing(a)"),
            (.drain, "wait", "resyncing(a)"),
            (.unreplicatedWriteEnd, "resumeDrainWaiters", "resyncing(a)"),
            (.drain, "proceed(true)", "resyncing(a)"),
            (.writeBegin, "replicate(a)", "resyncing(a)"),
            (.resyncDone(a), "resumeHeld", "inSync(a)"),
            (.writeBegin, "replicate(a)", "inSync(a)"),
            (.linkEnded(a, lost), "endSession", "disconnected"),
            (.writeBegin, "writeWithoutPeer", "disconnected"),
        ])
    }

    @Test func aSessionCanEndWhileConnectingOrResyncing() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.linkEnded(a, lost), "endSession", "disconnected"),
            (.connect(b), "startPairing", "connecting(b)"),
            (.resyncBegin(b), "drainUnreplicated", "resyncing(b)"),
            (.linkEnded(b, lost), "endSession", "disconnected"),
        ])
    }

    @Test func theSuspendPolicyHoldsWritesUntilThePeerIsInSync() {
        check([
            (.hold, "wait", "disconnected"),
            (.connect(a), "startPairing", "connecting(a)"),
            (.hold, "wait", "connecting(a)"),
            (.resyncBegin(a), "drainUnreplicated", "resyncing(a)"),
            (.hold, "wait", "resyncing(a)"),
            (.resyncDone(a), "resumeHeld", "inSync(a)"),
            (.hold, "proceed(true)", "inSync(a)"),
        ])
    }

    @Test func aDrainWaitsForEveryWriteThatBypassedThePeer() {
        check([
            (.drain, "proceed(true)", "disconnected"),
            (.writeBegin, "writeWithoutPeer", "disconnected"),
            (.writeBegin, "writeWithoutPeer", "disconnected"),
            (.drain, "wait", "disconnected"),
            (.unreplicatedWriteEnd, "none", "disconnected"),
            (.drain, "wait", "disconnected"),
            (.unreplicatedWriteEnd, "resumeDrainWaiters", "disconnected"),
            (.drain, "proceed(true)", "disconnected"),
        ])
    }

    @Test func onlyOneLinkIsPairedOrReplicatedOverAtATime() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.connect(b), busy, "connecting(a)"),
            (.resyncBegin(a), "drainUnreplicated", "resyncing(a)"),
            (.connect(b), busy, "resyncing(a)"),
            (.resyncDone(a), "resumeHeld", "inSync(a)"),
            (.connect(b), busy, "inSync(a)"),
        ])
    }

    @Test func refusingThePeerKeepsTheReasonUntilTheNextConnection() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.refuse(a, reason: "split brain"), "none", "refused(a: split brain)"),
            (.writeBegin, "writeWithoutPeer", "refused(a: split brain)"),
            (.hold, "wait", "refused(a: split brain)"),
            (.linkEnded(a, .refused("split brain")), "none", "refused(a: split brain)"),
            (.connect(b), "startPairing", "connecting(b)"),
            (.linkEnded(b, lost), "endSession", "disconnected"),
        ])
    }

    @Test func aRefusedLinkThatEndsAfterTheNextWasAdmittedIsIgnored() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.refuse(a, reason: "another volume"), "none", "refused(a: another volume)"),
            (.connect(b), "startPairing", "connecting(b)"),
            (.linkEnded(a, .refused("another volume")), "none", "connecting(b)"),
            (.resyncBegin(b), "drainUnreplicated", "resyncing(b)"),
            (.linkEnded(b, lost), "endSession", "disconnected"),
            (.linkEnded(a, .refused("another volume")), "none", "disconnected"),
        ])
    }

    @Test func aPeerThatRefusesLeavesItsReasonForTheStatus() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.linkEnded(a, .refused("already replicates")), "endSession", "refused(a: already replicates)"),
            (.connect(b), "startPairing", "connecting(b)"),
            (.resyncBegin(b), "drainUnreplicated", "resyncing(b)"),
            (.resyncDone(b), "resumeHeld", "inSync(b)"),
            (.linkEnded(b, .refused("a failing disk")), "endSession", "refused(b: a failing disk)"),
        ])
    }

    @Test func closingFailsHeldWritesDropsTheLinkAndAdmitsNoOther() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.resyncBegin(a), "drainUnreplicated", "resyncing(a)"),
            (.resyncDone(a), "resumeHeld", "inSync(a)"),
            (.close, "shutDown(a)", "inSync(a)"),
            (.hold, "proceed(false)", "inSync(a)"),
            (.connect(b), busy, "inSync(a)"),
            (.linkEnded(a, lost), "endSession", "disconnected"),
            (.connect(b), busy, "disconnected"),
            (.close, "shutDown(no link)", "disconnected"),
        ])
    }

    @Test func aSessionPairingWhileTheDeviceClosesStillEndsInOrder() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.writeBegin, "writeWithoutPeer", "connecting(a)"),
            (.close, "shutDown(a)", "connecting(a)"),
            (.resyncBegin(a), "drainUnreplicated", "resyncing(a)"),
            (.drain, "proceed(true)", "resyncing(a)"),
            (.unreplicatedWriteEnd, "resumeDrainWaiters", "resyncing(a)"),
            (.linkEnded(a, lost), "endSession", "disconnected"),
        ])
    }

    @Test func closingWhileRefusedKeepsTheReasonAndWritesGoOnWithoutThePeer() {
        check([
            (.connect(a), "startPairing", "connecting(a)"),
            (.refuse(a, reason: "split brain"), "none", "refused(a: split brain)"),
            (.close, "shutDown(no link)", "refused(a: split brain)"),
            (.writeBegin, "writeWithoutPeer", "refused(a: split brain)"),
            (.hold, "proceed(false)", "refused(a: split brain)"),
            (.connect(b), busy, "refused(a: split brain)"),
        ])
    }

    @Test func everySessionThatReachesSyncIsCounted() {
        var pairing = Pairing()
        for link in [a, b] {
            _ = pairing.event(.connect(link))
            _ = pairing.event(.resyncBegin(link))
            _ = pairing.event(.resyncDone(link))
            _ = pairing.event(.linkEnded(link, lost))
        }
        _ = pairing.event(.connect(a))
        _ = pairing.event(.refuse(a, reason: "split brain"))
        #expect(pairing.timesInSync == 2)
    }

    @Test func eventsOutOfOrderAreOurBugAndTrap() async {
        await #expect(processExitsWith: .failure) { Self.feed { [.resyncBegin($0)] } }
        await #expect(processExitsWith: .failure) { Self.feed { [.connect($0), .resyncDone($0)] } }
        await #expect(processExitsWith: .failure) { Self.feed { [.connect($0), .resyncBegin($0), .refuse($0, reason: "late")] } }
        await #expect(processExitsWith: .failure) { Self.feed { [.connect($0), .resyncBegin(Self.link("other"))] } }
        await #expect(processExitsWith: .failure) { Self.feed { _ in [.unreplicatedWriteEnd] } }
    }

    // MARK: Transcripts

    func check(_ lines: [Line], sourceLocation: SourceLocation = #_sourceLocation) {
        var pairing = Pairing()
        for (number, line) in lines.enumerated() {
            let action = pairing.event(line.event)
            let got = "\(action) → \(pairing.state)"
            #expect(got == "\(line.action) → \(line.state)", "line \(number + 1): \(line.event)", sourceLocation: sourceLocation)
        }
    }

    /// Feeds a fresh machine the events made from one link (for the traps).
    static func feed(_ events: (PeerLink) -> [Pairing.Event]) {
        var pairing = Pairing()
        for event in events(link("a")) { _ = pairing.event(event) }
    }

    static func link(_ name: String) -> PeerLink { PeerLink(NamedChannel(peerName: name)) { _ in } }
}

/// A channel that only has a name: the machine never does I/O with it.
private struct NamedChannel: ReplicationChannel {
    let peerName: String
    func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError) {}
    func start(
        onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void,
        mayPoll: @escaping @Sendable () -> Bool
    ) {}
    func close(_ reason: ReplicationError) {}
}
