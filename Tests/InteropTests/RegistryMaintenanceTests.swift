import Foundation
import TestSupport
import Testing

/// `buse registry gc` and `fsck` beside a running registry, on images
/// skopeo pushed: an image deleted through the API has its blobs freed by
/// gc while the other image, sharing none of them, still pulls identical;
/// fsck finds a tampered blob, repairs it, and is clean afterwards.
@Suite struct RegistryMaintenanceTests {
    @Test func gcFreesADeletedImagesBlobsWhileTheRegistryServesAndFsckRepairs() async throws {
        let directory = try TemporaryDirectory()
        let (kept, dropped) = (directory.file("kept"), directory.file("dropped"))
        try await RegistryImageLayout.build(at: kept, tag: "v1", layerSizes: [300_000, 20], in: directory)
        try await RegistryImageLayout.build(at: dropped, tag: "v1", layerSizes: [400_000], in: directory)
        let registry = try await RegistryProcess(in: directory)
        for (layout, name) in [(kept, "team/kept"), (dropped, "team/dropped")] {
            try await runChecked(
                "skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layout):v1", "docker://\(registry.address)/\(name):v1"],
                in: directory, timeout: .seconds(120))
        }
        let droppedManifest = try RegistryImageLayout.manifestDigest(of: dropped, tag: "v1")
        try await runChecked(
            "curl", ["-sf", "-X", "DELETE", "http://\(registry.address)/v2/team/dropped/manifests/\(droppedManifest)"],
            in: directory)
        let droppedBlobs = try RegistryImageLayout.blobDigests(of: dropped, manifest: droppedManifest)

        // With no grace, every blob modified before the collection's second is
        // fair game: wait until the clock has left the second of the last push.
        let pushed = time(nil)
        try await waitUntil("a new second has begun") { time(nil) > pushed }
        let gc = try await runChecked(try Tool.buse(), ["registry", "gc", "--root", registry.root, "--grace", "0s"], in: directory)
        #expect(gc.standardOutput.contains("deleted \(droppedBlobs.count + 1) of"), "\(gc)")
        for blob in droppedBlobs + [droppedManifest] {
            #expect(!FileManager.default.fileExists(atPath: CrashStoreView(root: registry.root).blobData(blob)), "\(blob) was not freed")
        }
        let pulled = directory.file("pulled")
        try await runChecked(
            "skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.address)/team/kept:v1", "oci:\(pulled):v1"],
            in: directory, timeout: .seconds(120))
        #expect(try RegistryImageLayout.manifestDigest(of: pulled, tag: "v1") == RegistryImageLayout.manifestDigest(of: kept, tag: "v1"))

        let clean = try await runChecked(try Tool.buse(), ["registry", "fsck", "--root", registry.root], in: directory)
        #expect(clean.standardOutput.contains(": clean"), "\(clean)")
        let keptManifest = try RegistryImageLayout.manifestDigest(of: kept, tag: "v1")
        let victim = try RegistryImageLayout.blobDigests(of: kept, manifest: keptManifest)[0]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: CrashStoreView(root: registry.root).blobData(victim)))
        try handle.write(contentsOf: Data("tampered".utf8))
        try handle.close()
        let damaged = try await run(try Tool.buse(), ["registry", "fsck", "--root", registry.root], in: directory)
        #expect(damaged.exitStatus == 1 && damaged.standardOutput.contains("blob \(victim) holds content"), "\(damaged)")
        let repaired = try await run(try Tool.buse(), ["registry", "fsck", "--root", registry.root, "--repair"], in: directory)
        #expect(repaired.standardOutput.contains("repaired"), "\(repaired)")
        let again = try await runChecked(try Tool.buse(), ["registry", "fsck", "--root", registry.root], in: directory)
        #expect(again.standardOutput.contains(": clean"), "\(again)")
        let ended = await registry.stop()
        #expect(ended == .exit(0), "\(registry.log)")
    }
}
