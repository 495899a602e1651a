import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc
import Logging
import SnapshotterAPI
import SnapshotterGRPC
import SwiftProtobuf
import Testing

typealias SnapshotsClient = Containerd_Services_Snapshots_V1_Snapshots.Client<HTTP2ClientTransport.Posix>

/// Serves a fresh root on a fresh socket, runs `body` with a client over
/// that socket, then shuts the server down and waits for it.
func withSnapshotter(_ body: @Sendable (SnapshotsClient, String) async throws -> Void) async throws {
    var template = Array("/tmp/buse-snapshotter-grpc-XXXXXX".utf8CString)
    let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    defer { _ = system("rm -rf '\(directory)'") }
    let socket = directory + "/snapshotter.sock"
    let server = try SnapshotterServer(root: directory + "/root", socket: socket, logger: Logger(label: "test"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve() }
        _ = try await server.listeningAddress()
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
        ) { client in
            try await body(SnapshotsClient(wrapping: client), directory + "/root")
        }
        server.shutdown()
        try await group.waitForAll()
    }
}

func list(_ client: SnapshotsClient, _ filters: [String] = []) async throws -> [String] {
    try await client.list(.with { $0.filters = filters }) { response in
        var names: [String] = []
        for try await message in response.messages { names += message.info.map(\.name) }
        return names.sorted()
    }
}

/// The gRPC code a call failed with (nil if it succeeded).
func code(_ body: () async throws -> Void) async -> (RPCError.Code, String)? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return (error.code, error.message)
    } catch {
        Issue.record("not an RPCError: \(error)")
        return nil
    }
}

@Suite struct SnapshotServiceTests {
    @Test func everyCallWorksOverTheUnixSocketAsContainerdMakesIt() async throws {
        try await withSnapshotter { client, root in
            let prepared = try await client.prepare(.with { $0.key = "default/1/extract-1 sha256:a" })
            #expect(prepared.mounts.map(\.type) == ["bind"])
            #expect(prepared.mounts.first?.source == root + "/snapshots/1/fs")
            #expect(prepared.mounts.first?.options == ["rbind", "rw"])
            #expect(try await client.mounts(.with { $0.key = "default/1/extract-1 sha256:a" }).mounts == prepared.mounts)
            _ = try await client.commit(
                .with {
                    $0.name = "default/2/sha256:a"
                    $0.key = "default/1/extract-1 sha256:a"
                    $0.labels = ["containerd.io/snapshot.ref": "a"]
                })
            let info = try await client.stat(.with { $0.key = "default/2/sha256:a" }).info
            #expect(info.kind == .committed && info.parent == "" && info.labels == ["containerd.io/snapshot.ref": "a"])
            #expect(info.createdAt.seconds > 0)

            let active = try await client.prepare(
                .with {
                    $0.key = "default/3/c1"
                    $0.parent = "default/2/sha256:a"
                })
            #expect(active.mounts.map(\.type) == ["overlay"])
            #expect(active.mounts.first?.options.last == "lowerdir=" + root + "/snapshots/1/fs")
            let view = try await client.view(
                .with {
                    $0.key = "default/4/v"
                    $0.parent = "default/2/sha256:a"
                })
            #expect(view.mounts.first?.options == ["rbind", "ro"])

            #expect(try await list(client) == ["default/2/sha256:a", "default/3/c1", "default/4/v"])
            #expect(try await list(client, ["kind==active", "kind==view"]) == ["default/3/c1", "default/4/v"])
            #expect(try await list(client, [#"labels."containerd.io/snapshot.ref"==a"#]) == ["default/2/sha256:a"])

            let updated = try await client.update(
                .with {
                    $0.info = .with {
                        $0.name = "default/3/c1"
                        $0.labels = ["x": "1"]
                    }
                    $0.updateMask = .with { $0.paths = ["labels.x"] }
                })
            #expect(updated.info.labels == ["x": "1"])
            #expect(try await client.usage(.with { $0.key = "default/3/c1" }).inodes == 1)

            _ = try await client.remove(.with { $0.key = "default/4/v" })
            _ = try await client.remove(.with { $0.key = "default/3/c1" })
            _ = try await client.remove(.with { $0.key = "default/2/sha256:a" })
            _ = try await client.cleanup(.with { _ in })
            #expect(try await list(client).isEmpty)
        }
    }

    @Test func refusalsArriveWithTheCodesContainerdMapsBack() async throws {
        try await withSnapshotter { client, _ in
            _ = try await client.prepare(.with { $0.key = "a" })
            _ = try await client.commit(
                .with {
                    $0.name = "c"
                    $0.key = "a"
                })
            _ = try await client.view(
                .with {
                    $0.key = "v"
                    $0.parent = "c"
                })

            // Each call is made outside `#expect`: a closure written inside the
            // macro's argument here got the same mangled name ("closure #8")
            // as the first Remove's closure below, and that Remove then ran
            // this Prepare of "v" instead (Swift 6.x; the binary held three
            // symbols for closure #8, one renamed by LLVM).
            let missing = await code { _ = try await client.stat(.with { $0.key = "missing" }) }
            #expect(missing?.0 == .notFound)
            let preparedTwice = await code { _ = try await client.prepare(.with { $0.key = "v" }) }
            #expect(preparedTwice?.0 == .alreadyExists)
            let committedTwice = await code {
                _ = try await client.commit(
                    .with {
                        $0.name = "c"
                        $0.key = "v"
                    })
            }
            #expect(committedTwice?.0 == .failedPrecondition)
            let parentMissing = await code {
                _ = try await client.prepare(
                    .with {
                        $0.key = "b"
                        $0.parent = "nothing"
                    })
            }
            #expect(parentMissing?.0 == .notFound)
            let removal = await code { _ = try await client.remove(.with { $0.key = "c" }) }
            #expect(removal?.0 == .failedPrecondition, "\(String(describing: removal))")
            #expect(removal?.1.contains("remove") == true)
            let badFilter = await code { _ = try await list(client, ["name=="]) }
            #expect(badFilter?.0 == .invalidArgument)
            let immutable = await code {
                _ = try await client.update(
                    .with {
                        $0.info = .with { $0.name = "c" }
                        $0.updateMask = .with { $0.paths = ["parent"] }
                    })
            }
            #expect(immutable?.0 == .invalidArgument)
            let emptyKey = await code { _ = try await client.prepare(.with { $0.key = "" }) }
            #expect(emptyKey?.0 == .invalidArgument)
            #expect(try await list(client) == ["c", "v"])
        }
    }
}
