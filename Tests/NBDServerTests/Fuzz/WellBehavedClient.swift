import NBDProtocol
import TestSupport

/// Clients that follow the protocol while the fuzzing runs beside them, and
/// check that they see their own data and nothing else.
enum WellBehavedClient {
    /// Writes a fresh pattern over the region only it writes, eight 64 KiB
    /// requests in flight at once, then reads it back, until `tally` is done.
    /// Returns the number of rounds.
    static func writeAndReadBack(_ fixture: ServerFixture, until tally: Tally) throws -> Int {
        let client = try fixture.connect()
        try client.handshake(export: "disk")
        let region = FuzzExport.goodRegion
        let blocks = Int(region.count) / 65536
        var round = 0
        repeat {
            round += 1
            var cookie = UInt64(round) << 16
            for block in 0..<blocks {
                cookie += 1
                try client.sendRequest(
                    Request(.write, cookie: cookie, offset: region.lowerBound + UInt64(block * 65536), length: 65536),
                    payload: pattern(65536, seed: UInt64(round * blocks + block)))
            }
            for _ in 0..<blocks {
                let reply = try client.readReply()
                if reply.error != 0 { tally.fail("the well-behaved writer's WRITE failed: \(reply)") }
            }
            let data = try client.read(at: region.lowerBound, length: Int(region.count), cookie: cookie + 1)
            for block in 0..<blocks
            where data[(block * 65536)..<((block + 1) * 65536)] != pattern(65536, seed: UInt64(round * blocks + block))[...] {
                tally.fail("the well-behaved writer read back wrong data in block \(block) of round \(round)")
            }
        } while !tally.isDone
        try client.disconnect()
        return round
    }

    /// Reads the untouched read-only export without structured replies and
    /// expects zeros every time, until `tally` is done. Returns the rounds.
    static func readZeros(_ fixture: ServerFixture, until tally: Tally) throws -> Int {
        let client = try fixture.connect()
        try client.handshake(export: "archive", structured: false)
        var round = 0
        repeat {
            round += 1
            let data = try client.read(at: 0, length: 1 << 16, cookie: UInt64(round), structured: false)
            if data.contains(where: { $0 != 0 }) { tally.fail("the well-behaved reader saw nonzero bytes in round \(round)") }
        } while !tally.isDone
        try client.disconnect()
        return round
    }
}
