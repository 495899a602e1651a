import Foundation
import Testing

/// The real skopeo against the built `buse registry serve`: images built
/// with umoci are pushed, pulled back and inspected, and must come back
/// byte for byte (same manifest and blob digests).
@Suite struct RegistryInteropTests {
    /// Three layers: 2 MiB (several read chunks of the server once gzipped),
    /// 200 KiB, and one of a few bytes.
    static let layerSizes = [2 << 20, 200 << 10, 10]

    @Test func skopeoPushesAnImageAndPullsItBackIdentical() async throws {
        let directory = try TemporaryDirectory()
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: Self.layerSizes, in: directory)
        let registry = try await RegistryProcess(in: directory)
        let reference = "docker://\(registry.address)/team/app:v1"
        let clock = ContinuousClock()
        let pushStarted = clock.now
        try await skopeo(["copy", "--dest-tls-verify=false", "oci:\(layout):v1", reference], registry, directory)
        let pushTime = pushStarted.duration(to: clock.now)

        let pulled = directory.file("pulled")
        let pullStarted = clock.now
        try await skopeo(["copy", "--src-tls-verify=false", reference, "oci:\(pulled):v1"], registry, directory)
        let pullTime = pullStarted.duration(to: clock.now)

        let pushedManifest = try RegistryImageLayout.manifestDigest(of: layout, tag: "v1")
        #expect(try RegistryImageLayout.manifestDigest(of: pulled, tag: "v1") == pushedManifest)
        let blobs = try RegistryImageLayout.blobDigests(of: layout, manifest: pushedManifest)
        #expect(blobs.count == 1 + Self.layerSizes.count)
        #expect(try RegistryImageLayout.blobDigests(of: pulled, manifest: pushedManifest) == blobs)

        let inspected = try await skopeo(["inspect", "--tls-verify=false", reference], registry, directory)
        let object = try JSONSerialization.jsonObject(with: Data(inspected.standardOutput.utf8)) as? [String: Any]
        #expect(object?["Digest"] as? String == pushedManifest)
        #expect((object?["Layers"] as? [String])?.count == Self.layerSizes.count)
        let tags = try await skopeo(["list-tags", "--tls-verify=false", "docker://\(registry.address)/team/app"], registry, directory)
        #expect(tags.standardOutput.contains("\"v1\""))
        print("registry interop: pushed \(blobs.count) blobs in \(pushTime), pulled in \(pullTime), manifest \(pushedManifest)")
        await stopExpectingCleanExit(registry)
    }

    /// A copy between two repositories of the same registry mounts each blob
    /// (skopeo tries `?mount=&from=` first), and the copy is identical.
    @Test func skopeoCopiesBetweenRepositoriesByMounting() async throws {
        let directory = try TemporaryDirectory()
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: [50_000, 10], in: directory)
        let registry = try await RegistryProcess(in: directory)
        let source = "docker://\(registry.address)/team/app:v1"
        let target = "docker://\(registry.address)/other/copy:stable"
        try await skopeo(["copy", "--dest-tls-verify=false", "oci:\(layout):v1", source], registry, directory)
        try await skopeo(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", source, target], registry, directory)
        let raw = try await skopeo(["inspect", "--raw", "--tls-verify=false", target], registry, directory)
        let manifest = try RegistryImageLayout.manifestDigest(of: layout, tag: "v1")
        let stored = try Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/" + manifest.replacingOccurrences(of: ":", with: "/")))
        #expect(Data(raw.standardOutput.utf8) == stored)
        #expect(registry.process.standardError.contains("POST /v2/other/copy/blobs/uploads/ 201"), "no blob was mounted:\n\(registry.log)")
        await stopExpectingCleanExit(registry)
    }

    /// A supervisor may stop the registry the moment it says it is serving.
    @Test func sigtermRightAfterTheHintStopsTheRegistryCleanly() async throws {
        for round in 1...5 {
            let directory = try TemporaryDirectory()
            let registry = try await RegistryProcess(in: directory)
            let ended = await registry.stop(timeout: .seconds(120))
            #expect(ended == .exit(0), "round \(round): buse registry \(ended?.description ?? "ignored SIGTERM")\n\(registry.log)")
            if ended == nil { registry.process.send(SIGKILL) }
            if ended != .exit(0) { break }
        }
    }

    @discardableResult
    private func skopeo(_ arguments: [String], _ registry: RegistryProcess, _ directory: TemporaryDirectory) async throws -> RunResult {
        let result = try await run("skopeo", arguments, in: directory, timeout: .seconds(120))
        guard result.succeeded else { throw InteropError("skopeo failed:\n\(result)\n--- registry log ---\n\(registry.log)") }
        return result
    }

    private func stopExpectingCleanExit(_ registry: RegistryProcess, sourceLocation: SourceLocation = #_sourceLocation) async {
        let ended = await registry.stop()
        #expect(
            ended == .exit(0), "buse registry \(ended?.description ?? "ignored SIGTERM"):\n\(registry.log)", sourceLocation: sourceLocation)
    }
}
