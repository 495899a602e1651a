import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import RegistryHTTP

/// What an operator sees and relies on: the access log, HEAD without
/// bodies, and the purge of abandoned uploads.
@Suite struct OperationTests {
    @Test func eachRequestLogsOneInfoLineWithMethodPathStatusAndBytes() async throws {
        let capture = LogCapture()
        try await TestRegistry(logger: capture.logger).test { client in
            let digest = try await client.pushBlob(pattern(777), to: "team/app")
            _ = try await client.request(.get, "/v2/team/app/blobs/\(digest)", headers: [.authorization: "Bearer secret-token"])
            _ = try await client.request(.get, "/v2/team/app/manifests/missing")
        }
        let lines = capture.messages.filter { $0.level == .info }.map(\.message)
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("POST /v2/team/app/blobs/uploads/ 201 0 bytes in ") && $0.hasSuffix(" ms") })
        #expect(lines.contains { $0.hasPrefix("GET /v2/team/app/blobs/sha256:") && $0.contains(" 200 777 bytes in ") })
        #expect(lines.contains { $0.hasPrefix("GET /v2/team/app/manifests/missing 404 ") })
        #expect(!capture.messages.contains { $0.message.contains("secret-token") || $0.message.contains("?digest=") })
    }

    /// Start-up removes temp files of interrupted writes: a second server on
    /// the same root would delete the first one's writes in progress.
    @Test func aSecondServerOnTheSameRootIsRefused() throws {
        let registry = try TestRegistry()
        #expect(throws: RootLock.Failure.self) { try RegistryServer(.init(root: registry.path, port: 0), logger: Logger(label: "second")) }
    }

    @Test func headAnswersCarryTheHeadersButNoBody() async throws {
        try await TestRegistry().test { client in
            let base = try await client.request(.head, "/v2/")
            #expect(base.status == .ok)
            #expect(base.headers[.apiVersion] == "registry/2.0")
            #expect(base.body.readableBytes == 0)
            let missing = try await client.request(.head, "/v2/team/app/blobs/\(sha256([7]))")
            #expect(missing.status == .notFound)
            #expect(missing.body.readableBytes == 0)
        }
    }

    @Test func uploadsOlderThanTheirTimeToLiveArePurged() async throws {
        let registry = try TestRegistry()
        try await registry.test { client in
            let old = try #require(try await client.request(.post, "/v2/team/app/blobs/uploads/").headers[.uploadUUID])
            let fresh = try #require(try await client.request(.post, "/v2/team/app/blobs/uploads/").headers[.uploadUUID])
            // Back-date one session as if a client had abandoned it long ago.
            let startedAt = registry.path + "/docker/registry/v2/repositories/team/app/_uploads/\(old)/startedat"
            try Data("2001-02-03T04:05:06Z".utf8).write(to: URL(fileURLWithPath: startedAt))
            let purge = UploadPurge(
                uploads: registry.server.store.uploads, timeToLive: .seconds(3600), interval: .seconds(1), pool: .shared,
                logger: Logger(label: "purge-test"))
            #expect(await purge.once() == 1)
            #expect(try await client.request(.get, "/v2/team/app/blobs/uploads/\(old)").status == .notFound)
            #expect(try await client.request(.get, "/v2/team/app/blobs/uploads/\(fresh)").status == .noContent)
        }
    }
}
