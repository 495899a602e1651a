import Foundation
import TestSupport
import Testing

/// containerd 1.6 pulls from `buse registry serve` over plain HTTP with
/// `ctr images pull --plain-http`, and unpacks the layers into its default
/// snapshotter (overlayfs) or into buse's (`buse snapshotter serve` as a
/// proxy plugin): registry to running-container storage, all buse. A
/// private containerd (`PrivateContainerd`), as root.
@Suite struct RegistryContainerdTests {
    @Test(.timeLimit(.minutes(10)), arguments: [nil, "buse"])
    func ctrPullsAndUnpacksAnImageFromTheRegistry(snapshotter: String?) async throws {
        let directory = try TemporaryDirectory()
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: [500_000, 10], in: directory)
        let registry = try await RegistryProcess(in: directory)
        let reference = "\(registry.address)/team/ctr:v1"
        try await runChecked(
            "skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layout):v1", "docker://\(reference)"], in: directory,
            timeout: .seconds(120))

        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        let ctr = ["-a", containerd.socket]
        let chosen = snapshotter.map { ["--snapshotter", $0] } ?? []
        let pulled = try await run(
            "ctr", ctr + ["images", "pull", "--plain-http"] + chosen + [reference], in: directory, timeout: .seconds(120))
        #expect(pulled.succeeded, "\(pulled)\n--- registry log ---\n\(registry.log)")

        let manifest = try RegistryImageLayout.manifestDigest(of: layout, tag: "v1")
        let images = try await runChecked("ctr", ctr + ["images", "ls"], in: directory)
        #expect(images.standardOutput.contains(reference) && images.standardOutput.contains(manifest), "\(images)")
        // Every blob the manifest names is in containerd's content store.
        let stored = try await runChecked("ctr", ctr + ["content", "ls", "--quiet"], in: directory).standardOutput
        for blob in try RegistryImageLayout.blobDigests(of: layout, manifest: manifest) + [manifest] {
            #expect(stored.contains(blob), "\(blob) was not pulled")
        }
        // Unpacked: one committed snapshot per layer.
        let snapshots = try await runChecked("ctr", ctr + ["snapshots"] + chosen + ["ls"], in: directory)
        #expect(snapshots.standardOutput.components(separatedBy: "Committed").count == 3, "\(snapshots)")
        #expect(await registry.stop() == .exit(0), "\(registry.log)")
    }
}
