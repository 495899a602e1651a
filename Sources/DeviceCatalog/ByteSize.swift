/// Parses sizes as operators write them: `4096`, `512K`, `1G`, `10GiB`, `2T`.
/// Suffixes are powers of 1024, as for disks in Linux tools.
public enum ByteSize {
    public static func parse(_ text: String) -> UInt64? {
        var digits = Substring(text.trimmingCharacters())
        let multipliers: [(String, UInt64)] = [
            ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("TIB", 1 << 40), ("PIB", 1 << 50),
            ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40), ("PB", 1 << 50),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("P", 1 << 50), ("B", 1),
        ]
        var multiplier: UInt64 = 1
        let upper = digits.uppercased()
        for (suffix, value) in multipliers where upper.hasSuffix(suffix) {
            multiplier = value
            digits = digits.dropLast(suffix.count)
            break
        }
        guard !digits.isEmpty, let number = UInt64(digits) else { return nil }
        let (result, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }

    /// A short human form: `1 GiB`, `512 MiB`, `4096 bytes`.
    public static func format(_ bytes: UInt64) -> String {
        let units: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (name, value) in units where bytes >= value && bytes % value == 0 {
            return "\(bytes / value) \(name)"
        }
        return "\(bytes) bytes"
    }
}

extension String {
    func trimmingCharacters() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
