import CCRC32C

/// CRC-32C (Castagnoli), the checksum of logged writes and of `buse verify`.
/// Computed in C with the CPU's crc32 instruction where it has one.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        buse_crc32c(initial, bytes.baseAddress, bytes.count)
    }

    /// The same without the carry-less multiplication path, as CPUs without
    /// VPCLMULQDQ compute it: for tests, which must check both.
    static func checksumWithoutFolding(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        buse_crc32c_without_folding(initial, bytes.baseAddress, bytes.count)
    }
}
