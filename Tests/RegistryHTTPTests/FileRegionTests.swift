import Foundation
import Hummingbird
import HummingbirdTesting
import RegistryStorage
import TestSupport
import Testing

@testable import RegistryHTTP

/// Blob GETs over a real connection go out with `sendfile(2)`
/// (`FileRegionHandler`): the bytes are exact whole and ranged, HEAD and 416
/// are as before, the internal mark never reaches the client, a blob
/// collected mid-send still arrives whole, and a client that vanishes
/// mid-body leaves no descriptor open.
@Suite struct FileRegionTests {
    /// Three and a half MiB: larger than one read chunk of the buffered path.
    static let blob = pattern(3 * (1 << 20) + 512 * 1024, seed: UInt8(11))

    @Test func wholeAndRangedGetsSentBySendfileAreExact() async throws {
        let capture = LogCapture()
        let blob = Self.blob
        try await TestRegistry(logger: capture.logger).test(.live) { client in
            let digest = try await client.pushBlob(blob, to: "zero/copy")
            let path = "/v2/zero/copy/blobs/\(digest)"
            // Several on one connection: each region pairs with its own head.
            for _ in 0..<3 {
                let whole = try await client.request(.get, path)
                #expect(whole.status == .ok)
                #expect(whole.headers[.contentLength] == String(blob.count))
                #expect(sameBytes(whole.bytes, blob), "the whole GET differs from the blob")
                #expect(!whole.headers.contains { $0.name.canonicalName == "buse-file-region" })
            }
            let ranges: [(String, Range<Int>)] = [
                ("bytes=0-0", 0..<1), ("bytes=100-1048675", 100..<1_048_676), ("bytes=3000000-", 3_000_000..<blob.count),
                ("bytes=-1", (blob.count - 1)..<blob.count), ("bytes=1048576-2097151", 1_048_576..<2_097_152),
            ]
            for (header, expected) in ranges {
                let part = try await client.request(.get, path, headers: [.range: header])
                #expect(part.status == .partialContent, "\(header)")
                #expect(part.headers[.contentRange] == "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/\(blob.count)")
                #expect(sameBytes(part.bytes, blob[expected]), "\(header)")
            }
            let head = try await client.request(.head, path)
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == String(blob.count))
            #expect(head.body.readableBytes == 0)
            let beyond = try await client.request(.get, path, headers: [.range: "bytes=\(blob.count)-"])
            #expect(beyond.status == .rangeNotSatisfiable)
            #expect(beyond.headers[.contentRange] == "bytes */\(blob.count)")
            // The connection still answers in order after all that.
            #expect(sameBytes(try await client.request(.get, path).bytes, blob), "the last GET differs from the blob")
        }
        let sent = capture.messages.filter { $0.level == .info && $0.message.contains(" by sendfile in ") }
        #expect(sent.count == 9, "\(capture.messages.map(\.message))")
    }

    @Test func aBlobCollectedWhileBeingSentArrivesWholeAndIsThenUnknown() async throws {
        let registry = try TestRegistry()
        let blob = pattern(16 << 20, seed: UInt8(12))
        try await registry.test(.live) { client in
            guard let port = client.port else { throw TestFailure("the live test client has no port") }
            let digest = try await Self.push(blob, to: "zero/collected", port: port)
            let data = try Self.dataPath(of: digest, under: registry.path)
            let store = registry.server.store
            let reply = try await runOnThread { () throws -> HTTPWire.Reply in
                let reader = try HTTPSlowReader(port: port, target: "/v2/zero/collected/blobs/\(digest)")
                try reader.read(atLeast: 1 << 20)
                // Older than any grace period, and referenced by no manifest:
                // collected now, with most of its bytes not yet sent.
                var old = utimbuf(actime: time(nil) - 7200, modtime: time(nil) - 7200)
                guard utime(data, &old) == 0 else { throw TestFailure("utime \(data): errno \(errno)") }
                let summary = try GarbageCollection(gracePeriod: .seconds(60)).run(store)
                guard summary.blobsDeleted >= 1, !FileManager.default.fileExists(atPath: data) else {
                    throw TestFailure("the collection kept the blob: \(summary)")
                }
                return try reader.readToEnd()
            }
            #expect(reply.status == 200)
            #expect(reply.body.count == blob.count)
            #expect(sameBytes(reply.body, blob), "the blob collected while sent arrived different")
            let after = try await client.request(.get, "/v2/zero/collected/blobs/\(digest)")
            #expect(after.status == .notFound)
            #expect(after.errorCode == "BLOB_UNKNOWN")
        }
    }

    @Test func aClientGoneMidBodyLeavesNoDescriptorOnTheBlob() async throws {
        let registry = try TestRegistry()
        let blob = pattern(16 << 20, seed: UInt8(13))
        try await registry.test(.live) { client in
            guard let port = client.port else { throw TestFailure("the live test client has no port") }
            let digest = try await Self.push(blob, to: "zero/gone", port: port)
            let data = try Self.dataPath(of: digest, under: registry.path)
            for range in [nil, "bytes=1000-"] {
                let openWhileSending = try await runOnThread { () throws -> Int in
                    let reader = try HTTPSlowReader(
                        port: port, target: "/v2/zero/gone/blobs/\(digest)", headers: range.map { [("Range", $0)] } ?? [])
                    try reader.read(atLeast: 1 << 20)
                    let open = try Self.descriptors(on: data)
                    reader.abort()
                    return open
                }
                // The server held the blob open while it sent (so the count can
                // tell), and lets go of it once the client is gone.
                #expect(openWhileSending >= 1)
                try await waitUntil("no descriptor of the process is on \(data)", timeout: .seconds(120)) {
                    try Self.descriptors(on: data) == 0
                }
            }
            // And the server goes on serving.
            let again = try await runOnThread { try HTTPWire(port: port).exchange("GET", "/v2/zero/gone/blobs/\(digest)") }
            #expect(sameBytes(again.body, blob), "the GET after the aborted ones differs from the blob")
        }
    }

    /// Pushes a large blob in one POST over a blocking socket, on a thread
    /// of its own.
    static func push(_ blob: [UInt8], to name: String, port: Int) async throws -> String {
        let digest = sha256(blob)
        let reply = try await runOnThread {
            try HTTPWire(port: port).exchange("POST", "/v2/\(name)/blobs/uploads/?digest=\(digest)", body: blob)
        }
        guard reply.status == 201 else { throw TestFailure("the push answered \(reply)") }
        return digest
    }

    static func dataPath(of digest: String, under root: String) throws -> String {
        let hex = digest.dropFirst("sha256:".count)
        let path = "\(root)/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
        guard FileManager.default.fileExists(atPath: path) else { throw TestFailure("no blob file at \(path)") }
        return path
    }

    /// How many of this process's descriptors are open on `path` (the
    /// server runs in process); exact even with other suites running.
    static func descriptors(on path: String) throws -> Int {
        let entries = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        return entries.filter { entry in
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")
            return target == path || target == path + " (deleted)"
        }.count
    }
}
