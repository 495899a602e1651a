/// Bytes from hex digits. Spaces, newlines and `#` comments to the end of a
/// line are ignored, so a golden frame can be written field by field, as the
/// spec lays it out.
func hex(_ text: String) -> [UInt8] {
    let code = text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.prefix { $0 != "#" } }
        .joined()
    let digits = Array(code.unicodeScalars.filter { !$0.properties.isWhitespace })
    precondition(digits.count.isMultiple(of: 2), "odd number of hex digits in \(text)")
    return stride(from: 0, to: digits.count, by: 2).map { index in
        var pair = String.UnicodeScalarView()
        pair.append(contentsOf: digits[index...index + 1])
        return UInt8(String(pair), radix: 16)!
    }
}

/// Hex digits of `bytes`, for readable failure messages.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// The bytes of a string, for payloads that carry names.
func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The big-endian bytes of an integer, as it appears on the wire.
func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
