/// Whether a reader should poll for its peer's next message before it
/// blocks, learnt from how its recent waits ended.
///
/// Polling pays when the next message comes within the poll's budget (a
/// client at iodepth 1 turning its reply around): the reader stays on a
/// running CPU instead of paying a wake-up of tens of microseconds. It is
/// pure waste when the message comes later: a replica at iodepth 1 waits a
/// whole client round trip for the next write, longer than the budget, and
/// polled it away every time (a third of its CPU per write). So a reader
/// whose last few polls all ran out blocks at once, notes whether its
/// blocked waits were short enough that a poll would have caught them, and
/// polls again when they were, or on a probe every ``probeInterval`` waits.
public struct PollBudget: Sendable {
    /// Polls in a row that ran out, up to ``missesBeforeBlocking``.
    private var misses = 0
    /// Waits since the last probe while not polling.
    private var sinceProbe = 0

    /// Polls that ran out in a row before the reader blocks at once.
    static let missesBeforeBlocking = 4
    /// While blocking at once, every this many waits poll anyway, so a
    /// change of pace (a client going from a trickle to a burst) is seen.
    static let probeInterval = 32

    public init() {}

    /// Whether this wait should poll first.
    mutating func shouldPoll() -> Bool {
        guard misses >= Self.missesBeforeBlocking else { return true }
        sinceProbe += 1
        guard sinceProbe >= Self.probeInterval else { return false }
        sinceProbe = 0
        return true
    }

    /// A poll ended: the message came within the budget (`caught`) or not.
    mutating func polled(caught: Bool) {
        misses = caught ? 0 : min(misses + 1, Self.missesBeforeBlocking)
    }

    /// A wait blocked without polling for `nanoseconds`: one shorter than
    /// the poll's budget, which a poll would have caught, counts toward
    /// polling again.
    mutating func blocked(nanoseconds: Int) {
        if nanoseconds < Socket.pollNanoseconds { misses = max(misses - 1, 0) }
    }
}
