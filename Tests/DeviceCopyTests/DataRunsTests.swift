import DeviceCopy
import Testing

/// Zero detection, block by block, as one-line cases.
@Suite struct DataRunsTests {
    /// Block length 4; `x` marks a non-zero byte, `.` a zero.
    @Test(arguments: [
        ("", [Range<Int>]()),
        ("........", []),
        ("x.......", [0..<4]),
        ("...x....", [0..<4]),
        ("....x...", [4..<8]),
        ("x...x...", [0..<8]),
        ("x.......x...", [0..<4, 8..<12]),
        ("........x.", [8..<10]),
        (".........", []),
        ("x", [0..<1]),
    ])
    func dataRunsAreTheBlocksThatHoldANonZeroByte(layout: String, expected: [Range<Int>]) {
        let bytes: [UInt8] = layout.map { $0 == "x" ? 0x5A : 0 }
        let runs = bytes.withUnsafeBytes { DataRuns.find(in: $0, blockLength: 4) }
        #expect(runs == expected, "\(layout)")
    }

    @Test func aNonZeroByteAnywhereInALargeBlockIsFound() {
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        for position in [0, 1, 4095, 4096, 500_000, (1 << 20) - 1] {
            bytes[position] = 1
            let runs = bytes.withUnsafeBytes { DataRuns.find(in: $0, blockLength: 4096) }
            let block = position / 4096 * 4096
            #expect(runs == [block..<(block + 4096)], "a byte at \(position)")
            bytes[position] = 0
        }
        #expect(bytes.withUnsafeBytes { DataRuns.isZero($0) })
    }
}

extension DataRunsTests {
    @Test(arguments: [
        ([0..<4, 6..<8], 2, [0..<4, 6..<8]),
        ([0..<4, 5..<8], 2, [0..<8]),
        ([0..<1, 2..<3, 10..<12], 4, [0..<3, 10..<12]),
        ([Range<Int>](), 4, []),
    ])
    func runsCloserThanTheGapAreJoined(runs: [Range<Int>], gap: Int, expected: [Range<Int>]) {
        #expect(DataRuns.joined(runs, acrossGapsShorterThan: gap) == expected)
    }
}
