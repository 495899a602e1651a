import Replication

/// A connection between two simulated hosts. Frames wait in the receiving
/// end's inbox until the driver delivers them (a delay of any length); the
/// driver can cut the link (a drop or the start of a partition), after which
/// queued frames are lost and both ends hear that the channel closed.
/// Order within one direction is kept, as TCP keeps it.
final class SimulatedLink: @unchecked Sendable {
    // Safety: used only on the simulation's one thread.
    final class End: ReplicationChannel, @unchecked Sendable {
        // Strong: a cut link must outlive the ends its peers still hold.
        let link: SimulatedLink
        let side: Int
        var onFrame: (@Sendable (Frame) -> Void)?
        var onClose: (@Sendable (ReplicationError) -> Void)?
        var inbox: [Frame] = []

        init(link: SimulatedLink, side: Int) {
            self.link = link
            self.side = side
        }

        var peerName: String { "simulated-\(1 - side)" }

        func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError) {
            guard !link.isCut else { throw .linkLost("simulated link is cut") }
            let payload = FramePayload(count: data.count)
            if data.count > 0 { payload.bytes.copyMemory(from: data) }
            link.ends[1 - side].inbox.append(Frame(header, payload: data.count > 0 ? payload : .empty))
        }

        /// Never polls: frames are delivered as the simulation steps.
        func start(
            onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void,
            mayPoll: @escaping @Sendable () -> Bool
        ) {
            self.onFrame = onFrame
            self.onClose = onClose
            if link.isCut { link.noteClosed(onClose) }
        }

        func close(_ reason: ReplicationError) { link.cut(reason) }
    }

    private(set) var ends: [End] = []
    private(set) var isCut = false
    /// Close notices not yet given; the driver gives them outside any handler.
    private var closeNotices: [(@Sendable (ReplicationError) -> Void, ReplicationError)] = []

    init() {
        ends = [End(link: self, side: 0), End(link: self, side: 1)]
    }

    func cut(_ reason: ReplicationError) {
        guard !isCut else { return }
        isCut = true
        for end in ends {
            end.inbox = []
            if let onClose = end.onClose { closeNotices.append((onClose, reason)) }
        }
    }

    func noteClosed(_ onClose: @escaping @Sendable (ReplicationError) -> Void) {
        closeNotices.append((onClose, .linkLost("simulated link is cut")))
    }

    /// Delivers the oldest frame waiting at `side`; false if none could be.
    func deliver(to side: Int) -> Bool {
        let end = ends[side]
        guard !isCut, let onFrame = end.onFrame, !end.inbox.isEmpty else { return false }
        onFrame(end.inbox.removeFirst())
        return true
    }

    /// Gives pending close notices; false if there were none.
    func giveCloseNotices() -> Bool {
        guard !closeNotices.isEmpty else { return false }
        let notices = closeNotices
        closeNotices = []
        for (notify, reason) in notices { notify(reason) }
        return true
    }

    var waitingFrames: Int { ends[0].inbox.count + ends[1].inbox.count }
}
