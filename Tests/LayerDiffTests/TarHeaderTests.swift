import LayerDiff
import Testing

@Suite struct TarHeaderTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let entry: TarEntry
        /// The PAX keys the header must carry; empty: plain USTAR, one block.
        let paxKeys: Set<String>
        var testDescription: String { label }
    }

    static let long = String(repeating: "d", count: 90)

    static let cases: [Case] = [
        Case(label: "short file", entry: TarEntry(path: Array("etc/hosts".utf8), kind: .regular, mode: 0o644), paxKeys: []),
        Case(
            label: "name of 150 bytes splits into prefix and name",
            entry: TarEntry(path: Array("\(long)/\(String(repeating: "n", count: 59))".utf8), kind: .regular), paxKeys: []),
        Case(
            label: "name of 300 bytes",
            entry: TarEntry(path: Array("\(long)/\(long)/\(long)/\(String(repeating: "x", count: 27))".utf8), kind: .regular),
            paxKeys: ["path"]),
        Case(label: "name not ASCII", entry: TarEntry(path: Array("caf\u{e9}".utf8), kind: .regular), paxKeys: ["path"]),
        Case(
            label: "last component over 100 bytes",
            entry: TarEntry(path: Array("a/\(String(repeating: "z", count: 101))".utf8), kind: .regular), paxKeys: ["path"]),
        Case(
            label: "long symbolic link target",
            entry: TarEntry(path: Array("l".utf8), kind: .symbolicLink, linkTarget: Array(String(repeating: "t/", count: 60).utf8)),
            paxKeys: ["linkpath"]),
        Case(label: "uid above 65535 fits octal", entry: TarEntry(path: Array("f".utf8), kind: .regular, uid: 100_000), paxKeys: []),
        Case(label: "uid past 7 octal digits", entry: TarEntry(path: Array("f".utf8), kind: .regular, uid: 3_000_000), paxKeys: ["uid"]),
        Case(label: "gid past 7 octal digits", entry: TarEntry(path: Array("f".utf8), kind: .regular, gid: 1 << 31), paxKeys: ["gid"]),
        Case(label: "size of 9 GiB", entry: TarEntry(path: Array("f".utf8), kind: .regular, size: 9 << 30), paxKeys: ["size"]),
        Case(label: "time before 1970", entry: TarEntry(path: Array("f".utf8), kind: .regular, modificationTime: -1), paxKeys: ["mtime"]),
        Case(
            label: "extended attributes",
            entry: TarEntry(
                path: Array("f".utf8), kind: .regular,
                attributes: [
                    .init(name: Array("security.capability".utf8), value: [1, 0, 0, 2, 0, 0x20]),
                    .init(name: Array("user.note".utf8), value: Array("a=b\n".utf8)),
                ]),
            paxKeys: ["SCHILY.xattr.security.capability", "SCHILY.xattr.user.note"]),
    ]

    @Test(arguments: cases)
    func headerCarriesEveryValueItsFieldsCannot(_ test: Case) throws {
        let bytes = TarHeader.encode(test.entry) + TarHeader.endOfArchive
        #expect(bytes.count % TarHeader.blockSize == 0)
        let members = try TarReader.members(bytes)
        try #require(members.count == 1)
        let member = members[0]
        #expect(Set(member.records.keys) == test.paxKeys)
        if test.paxKeys.isEmpty { #expect(bytes.count == TarHeader.blockSize + TarHeader.endOfArchive.count) }
        #expect(member.name == test.entry.path)
        #expect(member.linkTarget == test.entry.linkTarget)
        #expect(member.uid == test.entry.uid && member.gid == test.entry.gid)
        #expect(member.size == test.entry.size)
        #expect(member.modificationTime == test.entry.modificationTime)
        #expect(member.mode == UInt64(test.entry.mode))
        for attribute in test.entry.attributes {
            #expect(member.records["SCHILY.xattr." + String(decoding: attribute.name, as: UTF8.self)] == attribute.value)
        }
    }

    @Test func ustarFieldsAreWhereTheStandardPutsThem() {
        let block = TarHeader.encode(
            TarEntry(path: Array("bin/su".utf8), kind: .regular, mode: 0o4755, uid: 0, gid: 0, size: 5, modificationTime: 0o1234))
        #expect(Array(block[0..<7]) == Array("bin/su\0".utf8))
        #expect(Array(block[100..<108]) == Array("0004755\0".utf8))
        #expect(Array(block[124..<136]) == Array("00000000005\0".utf8))
        #expect(Array(block[136..<148]) == Array("00000001234\0".utf8))
        #expect(block[156] == UInt8(ascii: "0"))
        #expect(Array(block[257..<265]) == Array("ustar\u{0}00".utf8))
        #expect(block[154] == 0 && block[155] == UInt8(ascii: " "))
    }

    @Test func directoryNamesEndInASlashAndDevicesCarryTheirNumbers() throws {
        let bytes =
            TarHeader.encode(TarEntry(path: Array("var/tmp".utf8), kind: .directory, mode: 0o1777))
            + TarHeader.encode(TarEntry(path: Array("dev/null".utf8), kind: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3))
            + TarHeader.endOfArchive
        let members = try TarReader.members(bytes)
        #expect(members.map(\.nameText) == ["var/tmp/", "dev/null"])
        #expect(members[0].mode == 0o1777)
        let device = Array(bytes[512..<1024])
        #expect(Array(device[329..<337]) == Array("0000001\0".utf8))
        #expect(Array(device[337..<345]) == Array("0000003\0".utf8))
    }

    /// A record's length counts its own digits: values around the points
    /// where that length gains a digit (9→10, 99→100, 999→1000 bytes).
    @Test(arguments: [1, 2, 3, 4, 5, 80, 81, 82, 83, 84, 85, 975, 976, 977, 978, 979, 980])
    func paxRecordLengthCountsItself(valueLength: Int) throws {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueLength)
        let entry = TarEntry(path: Array("f".utf8), kind: .regular, attributes: [.init(name: Array("user.k".utf8), value: value)])
        let member = try #require(try TarReader.members(TarHeader.encode(entry) + TarHeader.endOfArchive).first)
        #expect(member.records["SCHILY.xattr.user.k"] == value)
    }

    @Test func writerPadsContentAndEndsTheArchive() throws {
        var writer = TarWriter(output: MemoryOutput())
        let content = Array("hello\n".utf8)
        try writer.append(TarEntry(path: Array("a".utf8), kind: .regular, mode: 0o644, size: UInt64(content.count)))
        try content.withUnsafeBytes { try writer.appendContent($0) }
        try writer.append(TarEntry(path: Array("b".utf8), kind: .hardLink, linkTarget: Array("a".utf8)))
        try writer.finish()
        let members = try TarReader.members(writerBytes(writer))
        #expect(members.map(\.nameText) == ["a", "b"])
        #expect(members[0].content == content)
        #expect(members[1].kind == UInt8(ascii: "1") && members[1].linkTarget == Array("a".utf8))
    }
}

/// The bytes a memory-backed writer produced.
func writerBytes(_ writer: TarWriter<MemoryOutput>) -> [UInt8] { writer.output.bytes }
