import NBDProtocol

/// Two exports with known fields, so that golden replies can be written by
/// hand: "disk" (the default, 1 MiB, writable) and "archive" (8 KiB, read-only).
struct Directory: ExportDirectory {
    /// Transmission flags 0x006d: HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM,
    /// SEND_WRITE_ZEROES (0x00ed once structured replies add SEND_DF).
    static let disk = ExportDescription(
        name: "disk", description: "scratch", size: 0x10_0000,
        flags: [.sendFlush, .sendFUA, .sendTrim, .sendWriteZeroes],
        blockSizeMinimum: 1, blockSizePreferred: 4096, blockSizeMaximum: 32 * 1024 * 1024)
    /// Transmission flags 0x0003: HAS_FLAGS, READ_ONLY.
    static let archive = ExportDescription(name: "archive", size: 0x2000, flags: [.readOnly])

    func export(named name: String) -> ExportDescription? {
        switch name {
        case "", "disk": Self.disk
        case "archive": Self.archive
        default: nil
        }
    }

    var exports: [ExportDescription] { [Self.disk, Self.archive] }
}
