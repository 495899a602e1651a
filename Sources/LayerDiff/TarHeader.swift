/// Encodes a ``TarEntry`` as POSIX.1-2001 (PAX) tar: one USTAR header
/// block, preceded by a PAX extended header (`x`) only when a value does
/// not fit USTAR: a path or link target too long or not ASCII, a uid, gid,
/// size or time too large for its octal field, or extended attributes.
/// Pure: the same entry always gives the same bytes.
public enum TarHeader {
    public static let blockSize = 512
    /// Two zero blocks end an archive.
    public static let endOfArchive = [UInt8](repeating: 0, count: 2 * blockSize)

    static let nameLength = 100
    static let prefixLength = 155
    /// The largest value of an 8-byte (7 octal digits) and a 12-byte field.
    static let octal7Maximum: UInt64 = 0o7777777
    static let octal11Maximum: UInt64 = 0o77777777777

    /// The zero bytes that pad `size` bytes of content to a whole block.
    public static func padding(_ size: UInt64) -> Int {
        let remainder = Int(size % UInt64(blockSize))
        return remainder == 0 ? 0 : blockSize - remainder
    }

    /// The header blocks of `entry`: PAX records (when needed) then USTAR.
    public static func encode(_ entry: TarEntry) -> [UInt8] {
        var name = entry.path
        if entry.kind == .directory { name.append(UInt8(ascii: "/")) }
        var records: [(String, [UInt8])] = []
        let split = ustarSplit(name)
        if split == nil { records.append(("path", name)) }
        let linkFits = entry.linkTarget.count <= nameLength && isASCII(entry.linkTarget)
        if !linkFits { records.append(("linkpath", entry.linkTarget)) }
        if entry.size > octal11Maximum { records.append(("size", Array(String(entry.size).utf8))) }
        if entry.uid > octal7Maximum { records.append(("uid", Array(String(entry.uid).utf8))) }
        if entry.gid > octal7Maximum { records.append(("gid", Array(String(entry.gid).utf8))) }
        let timeFits = entry.modificationTime >= 0 && UInt64(entry.modificationTime) <= octal11Maximum
        if !timeFits { records.append(("mtime", Array(String(entry.modificationTime).utf8))) }
        for attribute in entry.attributes {
            records.append(("SCHILY.xattr." + String(decoding: attribute.name, as: UTF8.self), attribute.value))
        }

        var ustar = [UInt8](repeating: 0, count: blockSize)
        let (prefix, shortName) = split ?? ([], Array(name.prefix(nameLength)))
        put(shortName, into: &ustar, at: 0, length: nameLength)
        putOctal(UInt64(entry.mode & 0o7777), into: &ustar, at: 100, length: 8)
        putOctal(entry.uid > octal7Maximum ? 0 : entry.uid, into: &ustar, at: 108, length: 8)
        putOctal(entry.gid > octal7Maximum ? 0 : entry.gid, into: &ustar, at: 116, length: 8)
        putOctal(entry.size > octal11Maximum ? 0 : entry.size, into: &ustar, at: 124, length: 12)
        putOctal(timeFits ? UInt64(entry.modificationTime) : 0, into: &ustar, at: 136, length: 12)
        ustar[156] = entry.kind.rawValue
        put(Array(entry.linkTarget.prefix(nameLength)), into: &ustar, at: 157, length: nameLength)
        put(Array("ustar\u{0}00".utf8), into: &ustar, at: 257, length: 8)
        if entry.kind == .characterDevice || entry.kind == .blockDevice {
            putOctal(UInt64(entry.deviceMajor), into: &ustar, at: 329, length: 8)
            putOctal(UInt64(entry.deviceMinor), into: &ustar, at: 337, length: 8)
        }
        put(prefix, into: &ustar, at: 345, length: prefixLength)
        putChecksum(into: &ustar)
        if records.isEmpty { return ustar }
        return extendedHeader(records, modificationTime: timeFits ? entry.modificationTime : 0) + ustar
    }

    /// `name` as USTAR's (prefix, name) fields, or nil when it needs a PAX
    /// `path` record: not ASCII, or no `/` splits it into at most 155 and
    /// 100 bytes with a non-empty name.
    static func ustarSplit(_ name: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        guard isASCII(name) else { return nil }
        if name.count <= nameLength { return ([], name) }
        // The last `/` that leaves a name of at most 100 bytes, not counting
        // a directory's own trailing `/` (the name would be empty).
        let searchEnd = min(name.count - 1, prefixLength + 1)
        guard let slash = name[..<searchEnd].lastIndex(of: UInt8(ascii: "/")), slash > 0 else { return nil }
        let rest = name.count - slash - 1
        guard rest > 0, rest <= nameLength, slash <= prefixLength else { return nil }
        return (Array(name[..<slash]), Array(name[(slash + 1)...]))
    }

    static func isASCII(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 < 0x80 && $0 != 0 } }

    /// A PAX extended header block and its records, each `LEN key=value\n`
    /// where LEN counts the whole record, its own digits included.
    static func extendedHeader(_ records: [(String, [UInt8])], modificationTime: Int64) -> [UInt8] {
        var body: [UInt8] = []
        for (key, value) in records {
            let fixed = key.utf8.count + value.count + 3  // " ", "=", "\n"
            var length = fixed + 1
            while String(length).utf8.count + fixed != length { length = String(length).utf8.count + fixed }
            body += Array("\(length) \(key)=".utf8) + value + [UInt8(ascii: "\n")]
        }
        let entry = TarEntry(
            path: Array("PaxHeader".utf8), kind: .regular, mode: 0o644, size: UInt64(body.count),
            modificationTime: modificationTime)
        var header = [UInt8](repeating: 0, count: blockSize)
        put(entry.path, into: &header, at: 0, length: nameLength)
        putOctal(UInt64(entry.mode), into: &header, at: 100, length: 8)
        putOctal(0, into: &header, at: 108, length: 8)
        putOctal(0, into: &header, at: 116, length: 8)
        putOctal(entry.size, into: &header, at: 124, length: 12)
        putOctal(UInt64(modificationTime), into: &header, at: 136, length: 12)
        header[156] = UInt8(ascii: "x")
        put(Array("ustar\u{0}00".utf8), into: &header, at: 257, length: 8)
        putChecksum(into: &header)
        return header + body + [UInt8](repeating: 0, count: padding(UInt64(body.count)))
    }

    static func put(_ bytes: [UInt8], into block: inout [UInt8], at offset: Int, length: Int) {
        precondition(bytes.count <= length, "tar field overflow: \(bytes.count) bytes into \(length)")
        block.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }

    /// `value` as zero-padded octal digits filling the field but its last byte (NUL).
    static func putOctal(_ value: UInt64, into block: inout [UInt8], at offset: Int, length: Int) {
        let digits = Array(String(value, radix: 8).utf8)
        precondition(digits.count < length, "tar numeric field overflow: \(value) into \(length) bytes")
        put([UInt8](repeating: UInt8(ascii: "0"), count: length - 1 - digits.count) + digits, into: &block, at: offset, length: length)
    }

    /// The header checksum: the sum of its bytes with the checksum field
    /// read as spaces, written as six octal digits, NUL, space.
    static func putChecksum(into block: inout [UInt8]) {
        block.replaceSubrange(148..<156, with: [UInt8](repeating: UInt8(ascii: " "), count: 8))
        let sum = block.reduce(0) { $0 + UInt64($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, UInt8(ascii: " ")]
        block.replaceSubrange(148..<156, with: field)
    }
}
