import Glibc

/// Where a buffer holds data: the runs of blocks that are not all zeros.
/// A copy writes only these, so zeros in the source stay holes in the
/// destination (`qemu-img convert -S` and `rbd import --sparse-size` do the
/// same at the same 4 KiB default).
public enum DataRuns {
    /// The ranges of `buffer` made of blocks of `blockLength` bytes (the
    /// last one may be shorter) that hold at least one non-zero byte, with
    /// neighbouring data blocks joined into one range.
    public static func find(in buffer: UnsafeRawBufferPointer, blockLength: Int) -> [Range<Int>] {
        precondition(blockLength > 0, "a block of data runs has a length")
        var runs: [Range<Int>] = []
        var start = 0
        while start < buffer.count {
            let end = min(start + blockLength, buffer.count)
            if !isZero(UnsafeRawBufferPointer(rebasing: buffer[start..<end])) {
                if let last = runs.last, last.upperBound == start {
                    runs[runs.count - 1] = last.lowerBound..<end
                } else {
                    runs.append(start..<end)
                }
            }
            start = end
        }
        return runs
    }

    /// `runs` (in order) with those less than `gap` bytes apart joined into
    /// one: where zeroing a short gap would cost a request of its own,
    /// writing its zeros along with the data is cheaper.
    public static func joined(_ runs: [Range<Int>], acrossGapsShorterThan gap: Int) -> [Range<Int>] {
        var joined: [Range<Int>] = []
        for run in runs {
            if let last = joined.last, run.lowerBound - last.upperBound < gap {
                joined[joined.count - 1] = last.lowerBound..<run.upperBound
            } else {
                joined.append(run)
            }
        }
        return joined
    }

    /// Whether every byte is zero: the first byte is zero and each byte
    /// equals the one after it, which glibc's vectorised `memcmp` answers
    /// far faster than a byte loop in Swift (and in a debug build too).
    public static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return bytes[0] == 0 && (bytes.count == 1 || memcmp(base, base + 1, bytes.count - 1) == 0)
    }
}
