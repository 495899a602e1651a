/// Hand-rolled JSON string output, for the few small documents the core
/// renders (error bodies). Keys are sorted so output is deterministic.
enum JSONText {
    /// `value` as a JSON string literal, quotes included (RFC 8259 section 7).
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                out += "\\u00" + hexByte(UInt8(scalar.value))
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A flat string map as a JSON object, or `null` when empty.
    static func object(_ members: [String: String]) -> String {
        guard !members.isEmpty else { return "null" }
        let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return "{" + sorted.map { quoted($0.key) + ":" + quoted($0.value) }.joined(separator: ",") + "}"
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }
}
