import Foundation
import TestSupport
import Testing

/// `buse registry serve --gc-interval`: the server collects garbage itself,
/// with `--gc-grace`, and logs a summary of each run.
@Suite struct RegistryPeriodicCollectionTests {
    @Test func aPeriodicCollectionRemovesAnOldUnreferencedBlobAndKeepsTheImage() async throws {
        let directory = try TemporaryDirectory()
        let registry = try await RegistryProcess(in: directory, options: ["--gc-interval", "1s", "--gc-grace", "10m"])
        let wire = HTTPWire(port: registry.port)
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let layer = RegistryImageLayout.generated(20_000, seed: 5)
        let orphan = RegistryImageLayout.generated(30_000, seed: 6)
        let manifest = CrashPlan.manifest(
            config: .init(bytes: config, digest: sha256Digest(config), mode: .monolithic),
            layers: [.init(bytes: layer, digest: sha256Digest(layer), mode: .monolithic)])
        try await runOnThread {
            for blob in [config, layer, orphan] {
                let reply = try wire.exchange("POST", "/v2/team/app/blobs/uploads/?digest=\(sha256Digest(blob))", body: blob)
                guard reply.status == 201 else { throw InteropError("blob push: \(reply)") }
            }
            let reply = try wire.exchange(
                "PUT", "/v2/team/app/manifests/v1", headers: [("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                body: manifest)
            guard reply.status == 201 else { throw InteropError("manifest push: \(reply)") }
        }
        // Everything is older than the grace period now; only the orphan is garbage.
        let store = CrashStoreView(root: registry.root)
        for blob in [config, layer, orphan, manifest] {
            var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, store.blobData(sha256Digest(blob)), &times, 0) == 0)
        }
        try await waitUntil("a periodic collection removed the unreferenced blob") {
            !FileManager.default.fileExists(atPath: store.blobData(sha256Digest(orphan)))
        }
        try await waitUntil("the collection logged its summary") { registry.process.standardError.contains("deleted 1 of 4 blobs") }
        for blob in [config, layer, manifest] {
            #expect(FileManager.default.fileExists(atPath: store.blobData(sha256Digest(blob))), "a referenced blob went")
        }
        let pulled = try await runOnThread { try wire.exchange("GET", "/v2/team/app/manifests/v1") }
        #expect(pulled.status == 200 && pulled.body == manifest)
        let ended = await registry.stop()
        #expect(ended == .exit(0), "\(registry.log)")
    }

    @Test func gcIntervalIsValidatedAndDocumented() async throws {
        let directory = try TemporaryDirectory()
        for bad in [["--gc-interval", "0s"], ["--gc-interval", "soon"], ["--gc-interval", "1h", "--gc-grace", "-1s"]] {
            let result = try await run(try Tool.buse(), ["registry", "serve", "--root", directory.path] + bad, in: directory)
            #expect(result.termination != .exit(0) && result.standardError.contains(bad[bad.count - 2]), "\(result)")
        }
        let help = try await runChecked(try Tool.buse(), ["registry", "serve", "--help"], in: directory)
        #expect(help.standardOutput.contains("--gc-interval") && help.standardOutput.contains("--gc-grace"), "\(help)")
    }
}
