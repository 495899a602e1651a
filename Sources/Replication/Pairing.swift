/// The primary's pairing with its peer, as a state machine with no I/O:
/// ``ReplicatedDevice`` feeds it events under its `shared` lock and carries
/// out the actions it returns.
///
/// Lifecycle. A primary starts `disconnected`. A connection is admitted
/// (`connect`) unless another link is being paired or replicated over, or the
/// device is closed; it is then `connecting`: greetings are exchanged and
/// writes are not sent to the peer yet, but the peer timeout covers the link.
/// The two volume states decide (``SyncDecision``). A refusal (`refuse`, such
/// as split brain) moves to `refused`, which keeps the peer's name and the
/// reason for `buse status` until the next connection. Otherwise, once the
/// peer has accepted the resync plan (`resyncBegin`), the pairing is
/// `resyncing`: client writes go to the peer from here on, and the driver
/// first waits out the writes that bypassed it, so that the log's dirty set
/// covers everything the peer lacks. When the resync has copied that and the
/// link is still up (`resyncDone`) the pairing is `inSync`, and writes held
/// by the suspend policy go on. The link's end (`linkEnded`) leads back to
/// `disconnected`, or to `refused` when it was the peer that refused. `close`
/// marks the device closed: held writes fail, drain waiters go on, the driver
/// flushes and drops the link, and no link is admitted any more; a link's
/// own events still follow (closing and pairing may race).
///
/// The machine also counts client writes that bypass the peer
/// (`writeBegin`, `unreplicatedWriteEnd`), which a resync must drain.
///
/// One session's events come from one task in order (`connect`, then
/// `refuse` or `resyncBegin` and maybe `resyncDone`, then `linkEnded`): any
/// other order is our bug and traps. One race is legitimate: a refused
/// link's `linkEnded` arrives after the pairing left it (it is `refused`, or
/// already pairs with the next link), and is ignored.
///
/// Glossary. The words are DRBD's, as in the CLI: the *primary* serves
/// clients and replicates to its *peer*, the *secondary* (`buse replica`,
/// ``ReplicaNode``). Every write is acknowledged once both have it (DRBD's
/// protocol C). A *generation* (``VolumeState/generation``) is DRBD's current
/// UUID, ``VolumeState/peerGeneration`` its bitmap UUID, and
/// ``VolumeState/history`` its history UUIDs. *Resync* is DRBD's resync; the
/// log's region bitmap (``Journal``'s dirty set) is DRBD's bitmap, and
/// ``ActivityLog`` is DRBD's activity log. *Refused* covers what DRBD calls
/// StandAlone after a failed handshake (split brain, another volume).
struct Pairing {
    enum State {
        case disconnected
        /// Greetings are being exchanged on this link.
        case connecting(PeerLink)
        /// The peer takes live writes and the resync copies what it lacks.
        case resyncing(PeerLink)
        /// The peer holds everything acknowledged (DRBD's UpToDate peer disk).
        case inSync(PeerLink)
        /// The pairing was refused, by either side: who, and why.
        case refused(peer: String, reason: String)
    }

    enum Event {
        /// A new connection to a peer.
        case connect(PeerLink)
        /// This primary refuses the peer after comparing states.
        case refuse(PeerLink, reason: String)
        /// The peer accepted the resync plan: live writes go to it from now.
        case resyncBegin(PeerLink)
        /// The resync copied everything and the link is alive.
        case resyncDone(PeerLink)
        /// The link ended for this reason.
        case linkEnded(PeerLink, ReplicationError)
        /// A client write takes its sequence (the hot path).
        case writeBegin
        /// A write that bypassed the peer has finished, successfully or not.
        case unreplicatedWriteEnd
        /// The suspend policy holds a write or flush until the peer is in sync.
        case hold
        /// The driver waits until no write that bypassed the peer is in flight.
        case drain
        /// The device closes.
        case close
    }

    enum Action {
        case none
        /// `connect`: the link is admitted; start it and send hello.
        case startPairing
        /// `connect`: refuse the link with this reason and close its channel.
        case rejectLink(String)
        /// `resyncBegin`: wait (``Event/drain``) for the writes that bypassed the peer.
        case drainUnreplicated
        /// `writeBegin`: send the write on this link as well.
        case replicate(PeerLink)
        /// `writeBegin`: the write goes to the local device only.
        case writeWithoutPeer
        /// `hold` or `drain`: park the caller until it is resumed.
        case wait
        /// `hold` or `drain`: the caller goes on at once (true), or fails as
        /// the device is closing (false).
        case proceed(Bool)
        /// `resyncDone`: every held write goes on.
        case resumeHeld
        /// `unreplicatedWriteEnd`: the last bypassing write ended; every drain waiter goes on.
        case resumeDrainWaiters
        /// `linkEnded`: the session is over; forget its resync progress.
        case endSession
        /// `close`: fail every held write, resume every drain waiter, flush
        /// both copies, then end this link, if any.
        case shutDown(PeerLink?)
    }

    private(set) var state = State.disconnected
    private(set) var isClosed = false
    /// Client writes in flight that were not sent to the peer.
    private(set) var unreplicatedInFlight = 0
    /// Sessions that reached sync so far (the connector resets its backoff on progress).
    private(set) var timesInSync = 0

    mutating func event(_ event: Event) -> Action {
        switch event {
        case let .connect(link): connect(link)
        case let .refuse(link, reason): refuse(link, reason)
        case let .resyncBegin(link): resyncBegin(link)
        case let .resyncDone(link): resyncDone(link)
        case let .linkEnded(link, reason): linkEnded(link, reason)
        case .writeBegin: writeBegin()
        case .unreplicatedWriteEnd: unreplicatedWriteEnd()
        case .hold: isClosed ? .proceed(false) : isInSync ? .proceed(true) : .wait
        case .drain: unreplicatedInFlight == 0 || isClosed ? .proceed(true) : .wait
        case .close: close()
        }
    }

    private mutating func connect(_ link: PeerLink) -> Action {
        guard !isClosed, anyLink == nil else { return .rejectLink("this primary is already replicating or is stopping") }
        state = .connecting(link)
        return .startPairing
    }

    private mutating func refuse(_ link: PeerLink, _ reason: String) -> Action {
        guard case let .connecting(current) = state, current === link else { misplaced(.refuse(link, reason: reason)) }
        state = .refused(peer: link.channel.peerName, reason: reason)
        return .none
    }

    private mutating func resyncBegin(_ link: PeerLink) -> Action {
        guard case let .connecting(current) = state, current === link else { misplaced(.resyncBegin(link)) }
        state = .resyncing(link)
        return .drainUnreplicated
    }

    private mutating func resyncDone(_ link: PeerLink) -> Action {
        guard case let .resyncing(current) = state, current === link else { misplaced(.resyncDone(link)) }
        state = .inSync(link)
        timesInSync += 1
        return .resumeHeld
    }

    private mutating func linkEnded(_ link: PeerLink, _ reason: ReplicationError) -> Action {
        // Not the current link: one this primary refused, whose end comes
        // after the refusal (see the type's comment).
        guard anyLink === link else { return .none }
        if case let .refused(why) = reason {
            state = .refused(peer: link.channel.peerName, reason: why)
        } else {
            state = .disconnected
        }
        return .endSession
    }

    private mutating func writeBegin() -> Action {
        if let link { return .replicate(link) }
        unreplicatedInFlight += 1
        return .writeWithoutPeer
    }

    private mutating func unreplicatedWriteEnd() -> Action {
        precondition(unreplicatedInFlight > 0, "a write that bypassed the peer ended twice, or one that did not bypass it ended as such")
        unreplicatedInFlight -= 1
        return unreplicatedInFlight == 0 ? .resumeDrainWaiters : .none
    }

    /// Closing twice is allowed (a failed close may be retried, and the
    /// simulation closes every incarnation at its end).
    private mutating func close() -> Action {
        isClosed = true
        return .shutDown(anyLink)
    }

    private func misplaced(_ event: Event) -> Never {
        preconditionFailure("pairing: \(event) in state \(state)")
    }

    // MARK: Queries

    /// The link writes are sent on, if any.
    var link: PeerLink? {
        switch state {
        case let .resyncing(link), let .inSync(link): link
        case .disconnected, .connecting, .refused: nil
        }
    }

    /// The link being paired or replicated over, if any.
    var anyLink: PeerLink? {
        if case let .connecting(link) = state { return link }
        return link
    }

    var isInSync: Bool {
        if case .inSync = state { return true }
        return false
    }

    var isResyncing: Bool {
        if case .resyncing = state { return true }
        return false
    }
}
