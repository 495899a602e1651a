import Foundation
import Hummingbird
import HummingbirdTesting
import RegistryStorage
import Synchronization
import Testing

/// Garbage collection with no grace period, run back to back on its own
/// thread while 8 clients push images that share layers (and some delete
/// their previous image, making garbage as they go).
///
/// A client does what the spec lets a registry ask of it: a manifest
/// answered MANIFEST_BLOB_UNKNOWN (the collector took a blob pushed before
/// the collection and not yet referenced: with no grace that is allowed)
/// gets its blobs pushed again. What must hold: every manifest answered 201
/// and not deleted pulls afterwards with every blob whole, and a last
/// collection leaves exactly the referenced blobs.
@Suite struct GarbageCollectionUnderLoadTests {
    static let clients = 8
    static let imagesPerClient = 5

    struct Image: Sendable {
        let repository: String
        let tag: String
        let manifest: [UInt8]
        let blobs: [[UInt8]]
    }

    @Test func everyImagePushedDuringCollectionsPullsAndOnlyGarbageGoes() async throws {
        let registry = try TestRegistry()
        let store = registry.server.store
        let shared = (0..<4).map { pattern(20_000 + $0 * 7_000, seed: UInt8($0 + 1)) }
        let collector = Collector(store: store)
        let collecting = collector.start()
        let kept = try await registry.test { client in
            try await withThrowingTaskGroup(of: [Image].self) { group in
                for index in 0..<Self.clients {
                    group.addTask { try await Self.push(client: index, shared: shared, through: client) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        collector.stop()
        await collecting.value
        #expect(collector.runs >= 2, "the collector ran during the pushes")

        // A last collection, once the clock has left the second of the last
        // push (no grace: everything modified before the collection's second goes).
        let pushed = time(nil)
        while time(nil) <= pushed { try await Task.sleep(for: .milliseconds(10)) }
        _ = try GarbageCollection(gracePeriod: .zero).run(store)

        let referenced = Set(kept.flatMap { [sha256($0.manifest)] + $0.blobs.map(sha256) })
        #expect(try Set(Self.blobsInStore(registry.path)) == referenced, "the store holds exactly the referenced blobs")
        #expect(try Fsck().run(store).isClean)
        try await registry.test { client in
            for image in kept {
                let manifest = try await client.request(
                    .get, "/v2/\(image.repository)/manifests/\(image.tag)", headers: [.accept: Manifests.ociManifest])
                #expect(manifest.status == .ok && manifest.bytes == image.manifest, "\(image.repository):\(image.tag)")
                for blob in image.blobs {
                    let pulled = try await client.request(.get, "/v2/\(image.repository)/blobs/\(sha256(blob))")
                    #expect(pulled.status == .ok && sha256(pulled.bytes) == sha256(blob), "\(image.repository)@\(sha256(blob))")
                }
            }
        }
        print("gc under load: \(kept.count) images kept, \(collector.runs) collections during the pushes")
    }

    /// One client's images; odd clients delete each previous image once the
    /// next is pushed. Returns the images left.
    private static func push(client index: Int, shared: [[UInt8]], through client: Client) async throws -> [Image] {
        let repository = "load/client\(index)"
        var kept: [Image] = []
        for number in 0..<imagesPerClient {
            let config = Array(#"{"architecture":"amd64","os":"linux","client":\#(index),"image":\#(number)}"#.utf8)
            let own = pattern(5_000 + number * 911, seed: UInt8(index * 16 + number))
            let layers = [shared[(index + number) % 4], shared[(index + 2 * number + 1) % 4], own]
            let manifest = Manifests.image(config: sha256(config), configSize: config.count, layers: layers.map { (sha256($0), $0.count) })
            let image = Image(repository: repository, tag: "v\(number)", manifest: manifest, blobs: [config] + layers)
            try await pushWithRetries(image, through: client)
            if index % 2 == 1, let previous = kept.popLast() {
                let deleted = try await client.request(.delete, "/v2/\(repository)/manifests/\(sha256(previous.manifest))")
                #expect(deleted.status == .accepted)
            }
            kept.append(image)
        }
        return kept
    }

    /// Pushes the blobs and the manifest; pushes the blobs again while the
    /// manifest is answered MANIFEST_BLOB_UNKNOWN (a bounded number of times).
    private static func pushWithRetries(_ image: Image, through client: Client) async throws {
        for _ in 0..<50 {
            for blob in image.blobs { try await client.pushBlob(blob, to: image.repository) }
            let response = try await client.request(
                .put, "/v2/\(image.repository)/manifests/\(image.tag)", headers: [.contentType: Manifests.ociManifest],
                body: image.manifest)
            if response.status == .created { return }
            guard response.status == .badRequest, response.errorCode == "MANIFEST_BLOB_UNKNOWN" else {
                throw TestFailure("manifest PUT of \(image.repository):\(image.tag) answered \(response.status): \(response.text)")
            }
        }
        throw TestFailure("\(image.repository):\(image.tag) never got its manifest stored")
    }

    /// Collections with no grace, back to back on a thread of their own (they
    /// block), until stopped.
    final class Collector: Sendable {
        let store: RegistryStore
        private let state = Mutex((stopped: false, runs: 0))

        init(store: RegistryStore) { self.store = store }

        var runs: Int { state.withLock { $0.runs } }
        func stop() { state.withLock { $0.stopped = true } }

        func start() -> Task<Void, Never> {
            Task {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    Thread.detachNewThread {
                        while !self.state.withLock({ $0.stopped }) {
                            do {
                                _ = try GarbageCollection(gracePeriod: .zero).run(self.store)
                                self.state.withLock { $0.runs += 1 }
                            } catch {
                                Issue.record("a collection under load failed: \(error)")
                                break
                            }
                        }
                        continuation.resume()
                    }
                }
            }
        }
    }

    /// Every blob digest under the root's blob store.
    private static func blobsInStore(_ root: String) throws -> [String] {
        let blobs = root + "/docker/registry/v2/blobs/sha256"
        return try FileManager.default.contentsOfDirectory(atPath: blobs).flatMap { prefix in
            try FileManager.default.contentsOfDirectory(atPath: blobs + "/" + prefix).map { "sha256:" + $0 }
        }
    }
}
