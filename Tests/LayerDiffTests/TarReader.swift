import LayerDiff

/// A small tar reader for the tests: USTAR headers, PAX `x` records
/// applied to the next member. It checks every header's checksum.
struct TarReader {
    struct Member: Equatable {
        var name: [UInt8]
        var kind: UInt8
        var mode: UInt64
        var uid: UInt64
        var gid: UInt64
        var size: UInt64
        var modificationTime: Int64
        var linkTarget: [UInt8]
        var records: [String: [UInt8]]
        var content: [UInt8]

        var nameText: String { String(decoding: name, as: UTF8.self) }
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    static func members(_ bytes: [UInt8]) throws -> [Member] {
        var members: [Member] = []
        var offset = 0
        var pending: [String: [UInt8]] = [:]
        while offset + 512 <= bytes.count {
            let block = Array(bytes[offset..<(offset + 512)])
            if block.allSatisfy({ $0 == 0 }) { return members }
            try checkChecksum(block)
            let size = octal(block[124..<136])
            let content = Array(bytes[(offset + 512)..<(offset + 512 + Int(size))])
            offset += 512 + Int(size) + TarHeader.padding(size)
            if block[156] == UInt8(ascii: "x") {
                pending = try records(content)
                continue
            }
            var name = field(block[0..<100])
            let prefix = field(block[345..<500])
            if !prefix.isEmpty { name = prefix + [UInt8(ascii: "/")] + name }
            var member = Member(
                name: pending["path"] ?? name, kind: block[156], mode: octal(block[100..<108]),
                uid: pending["uid"].map { UInt64(String(decoding: $0, as: UTF8.self))! } ?? octal(block[108..<116]),
                gid: pending["gid"].map { UInt64(String(decoding: $0, as: UTF8.self))! } ?? octal(block[116..<124]),
                size: size,
                modificationTime: pending["mtime"].map { Int64(String(decoding: $0, as: UTF8.self))! } ?? Int64(octal(block[136..<148])),
                linkTarget: pending["linkpath"] ?? field(block[157..<257]), records: pending, content: content)
            if let realSize = pending["size"] { member.size = UInt64(String(decoding: realSize, as: UTF8.self))! }
            members.append(member)
            pending = [:]
        }
        throw Malformed(description: "no end-of-archive blocks")
    }

    static func field(_ bytes: ArraySlice<UInt8>) -> [UInt8] { Array(bytes.prefix { $0 != 0 }) }

    static func octal(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        UInt64(String(decoding: field(bytes).filter { $0 != UInt8(ascii: " ") }, as: UTF8.self), radix: 8) ?? 0
    }

    static func checkChecksum(_ block: [UInt8]) throws {
        var copy = block
        copy.replaceSubrange(148..<156, with: [UInt8](repeating: UInt8(ascii: " "), count: 8))
        let sum = copy.reduce(0) { $0 + UInt64($1) }
        guard sum == octal(block[148..<156]) else { throw Malformed(description: "bad checksum \(sum)") }
    }

    /// PAX records; each one's length must count itself exactly.
    static func records(_ content: [UInt8]) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        var rest = content[...]
        while !rest.isEmpty {
            guard let space = rest.firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: rest[..<space], as: UTF8.self)), length <= rest.count,
                rest[rest.startIndex + length - 1] == UInt8(ascii: "\n")
            else { throw Malformed(description: "bad PAX record length") }
            let record = rest[(space + 1)..<(rest.startIndex + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { throw Malformed(description: "PAX record without =") }
            result[String(decoding: record[..<equals], as: UTF8.self)] = Array(record[(equals + 1)...])
            rest = rest[(rest.startIndex + length)...]
        }
        return result
    }
}

/// An output into memory.
struct MemoryOutput: LayerOutput {
    var bytes: [UInt8] = []
    var finished = false

    mutating func write(_ bytes: UnsafeRawBufferPointer) { self.bytes.append(contentsOf: bytes) }
    mutating func finish() { finished = true }
}
