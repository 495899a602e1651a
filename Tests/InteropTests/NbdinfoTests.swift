import Foundation
import Testing

/// nbdinfo (libnbd) sees the exports, sizes, flags and maps buse advertises.
@Suite struct NbdinfoTests {
    @Test func listShowsEveryExportWithItsSizeDescriptionAndFlags() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(
            exports: ["a=memory:64M", "b=file:\(directory.file("b.img"))?size=16M", "ro=memory:1M?readonly"],
            in: directory)
        let listing = try await runChecked("nbdinfo", ["--list", "--json", server.uri("")], in: directory)
        let info = try JSONDecoder().decode(NbdinfoListing.self, from: Data(listing.standardOutput.utf8))
        #expect(info.structured == true)
        let byName = Dictionary(uniqueKeysWithValues: info.exports.map { ($0.name, $0) })
        #expect(Set(byName.keys) == ["a", "b", "ro"])
        #expect(byName["a"]?.size == 64 << 20)
        #expect(byName["b"]?.size == 16 << 20)
        #expect(byName["ro"]?.size == 1 << 20)
        #expect(byName["a"]?.description == "memory:64M")
        #expect(byName["a"]?.isReadOnly == false)
        #expect(byName["ro"]?.isReadOnly == true)
        #expect(byName["ro"]?.canTrim == false)
        #expect(byName["ro"]?.canZero == false)
        #expect(byName["a"]?.contexts == ["base:allocation"])
        await server.stopExpectingCleanExit()
    }

    static let writableCapabilities = [
        "flush", "fua", "trim", "zero", "fast-zero", "cache", "df", "multi-conn", "structured-reply", "write",
    ]

    @Test(arguments: ["memory:64M", "file"])
    func canAnswersYesForEveryCapabilityOfAWritableExport(device: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=64M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        for capability in Self.writableCapabilities {
            let answer = try await run("nbdinfo", ["--can", capability, server.uri("disk")], in: directory)
            #expect(answer.exitStatus == 0, "nbdinfo --can \(capability) should say yes (exit 0):\n\(answer)")
        }
        let readOnly = try await run("nbdinfo", ["--is", "read-only", server.uri("disk")], in: directory)
        #expect(readOnly.exitStatus == 2, "a writable export must not claim to be read-only:\n\(readOnly)")
        await server.stopExpectingCleanExit()
    }

    @Test(arguments: [false, true])
    func readOnlyExportSaysSoAndRefusesWritingCapabilities(serverWideFlag: Bool) async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(
            exports: [serverWideFlag ? "disk=memory:8M" : "disk=memory:8M?readonly"],
            options: serverWideFlag ? ["--read-only"] : [], in: directory)
        let readOnly = try await run("nbdinfo", ["--is", "read-only", server.uri("disk")], in: directory)
        #expect(readOnly.exitStatus == 0, "nbdinfo --is read-only should say yes:\n\(readOnly)")
        for capability in ["write", "trim", "zero", "fast-zero", "fua"] {
            let answer = try await run("nbdinfo", ["--can", capability, server.uri("disk")], in: directory)
            #expect(answer.exitStatus == 2, "a read-only export must not offer \(capability) (exit 2):\n\(answer)")
        }
        for capability in ["read", "flush", "cache", "df", "multi-conn", "structured-reply"] {
            let answer = try await run("nbdinfo", ["--can", capability, server.uri("disk")], in: directory)
            #expect(answer.exitStatus == 0, "a read-only export still offers \(capability):\n\(answer)")
        }
        await server.stopExpectingCleanExit()
    }

    @Test(arguments: [("memory:64M", "67108864"), ("memory:1000001", "1000001"), ("file", "3221225472")])
    func sizeIsTheExportSizeInBytes(device: String, expected: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=3G" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        let size = try await runChecked("nbdinfo", ["--size", server.uri("disk")], in: directory)
        #expect(size.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
        await server.stopExpectingCleanExit()
    }

    @Test(arguments: ["memory:64M", "file"])
    func mapShowsHolesAfterTrimAndZero(device: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=64M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        let mebibyte = 1 << 20
        // 4 MiB of data, then trim the second MiB and zero the third (holes allowed).
        _ = try await Nbdsh.run(
            """
            h.pwrite(b"\\xab" * (4 << 20), 0)
            h.trim(1 << 20, 1 << 20)
            h.zero(1 << 20, 2 << 20)
            h.flush()
            """, uri: server.uri("disk"), in: directory)
        let map = try await runChecked("nbdinfo", ["--map", "--json", server.uri("disk")], in: directory)
        let extents = try JSONDecoder().decode([NbdinfoExtent].self, from: Data(map.standardOutput.utf8))
        let expected = [
            NbdinfoExtent(offset: 0, length: mebibyte, type: 0),
            NbdinfoExtent(offset: mebibyte, length: 2 * mebibyte, type: 3),
            NbdinfoExtent(offset: 3 * mebibyte, length: mebibyte, type: 0),
            NbdinfoExtent(offset: 4 * mebibyte, length: 60 * mebibyte, type: 3),
        ]
        #expect(extents == expected, "nbdinfo --map:\n\(map.standardOutput)")
        await server.stopExpectingCleanExit()
    }
}

/// `nbdinfo --list --json`, the parts the tests check.
struct NbdinfoListing: Decodable {
    struct Export: Decodable {
        var name: String
        var description: String?
        var size: Int
        var contexts: [String]?
        var isReadOnly: Bool
        var canTrim: Bool
        var canZero: Bool

        enum CodingKeys: String, CodingKey {
            case name = "export-name", description, size = "export-size", contexts
            case isReadOnly = "is_read_only", canTrim = "can_trim", canZero = "can_zero"
        }
    }

    var structured: Bool
    var exports: [Export]
}

/// One entry of `nbdinfo --map --json`: type 0 is data, 3 is hole and zero.
struct NbdinfoExtent: Decodable, Equatable, CustomStringConvertible {
    var offset: Int
    var length: Int
    var type: Int

    var description: String { "\(offset)+\(length):\(type)" }
}
