/// Whether a reader should poll for its next frame before it blocks, learnt
/// from how its recent polls went.
///
/// Polling pays when the peer answers within the poll (a client at iodepth
/// 1 on a file export sends its next request within microseconds), and only
/// burns CPU when it does not: behind a RADOS image, requests arrive as the
/// cluster completes earlier ones, milliseconds apart, and a reader polling
/// 50 µs before every wait took CPU from the OSD on the same machine. After
/// ``wastedLimit`` polls in a row that ended blocking, the reader blocks at
/// once, and tries a poll again every ``probeInterval`` waits, so it
/// notices when the traffic changes.
struct AdaptivePolling {
    static let wastedLimit = 4
    static let probeInterval = 32

    private var wastedInARow = 0
    private var waitsSinceProbe = 0

    mutating func shouldPoll() -> Bool {
        guard wastedInARow >= Self.wastedLimit else { return true }
        waitsSinceProbe += 1
        guard waitsSinceProbe >= Self.probeInterval else { return false }
        waitsSinceProbe = 0
        return true
    }

    mutating func record(wasted: Bool) {
        wastedInARow = wasted ? wastedInARow + 1 : 0
    }
}
