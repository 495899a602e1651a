import Foundation
import TestSupport
import Testing

/// Real containerd end to end: a private containerd 1.6 (its own config,
/// root, state and socket in a temporary directory, CRI disabled) loads
/// `buse snapshotter serve` as a proxy plugin, imports an image built with
/// umoci, and runs a container from it with runc. Runs as root.
@Suite struct SnapshotterContainerdTests {
    @Test(.timeLimit(.minutes(5)))
    func containerdImportsAndRunsAnImageOnBuseSnapshots() async throws {
        let directory = try TemporaryDirectory()
        try await makeImage(in: directory)
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        try await containerd.ctr(["images", "import", "--snapshotter", "buse", directory.file("image.tar")])
        let snapshots = try await containerd.snapshots(["ls"])
        #expect(snapshots.standardOutput.components(separatedBy: "Committed").count == 3, "\(snapshots)")
        let container = try await containerd.ctr(
            [
                "run", "--rm", "--snapshotter", "buse", "docker.io/library/buse-test:latest", "c1",
                "/bin/busybox", "sh", "-c", "cat /greeting && echo written > /written && cat /written",
            ], timeout: .seconds(120))
        #expect(container.standardOutput == "hello from a layer\nwritten\n", "\(container)")
    }

    /// Two layers (busybox, then a file) as an OCI archive `ctr` imports.
    private func makeImage(in directory: TemporaryDirectory) async throws {
        let layout = directory.file("oci")
        try await runChecked("umoci", ["init", "--layout", layout], in: directory)
        try await runChecked("umoci", ["new", "--image", layout + ":img"], in: directory)
        try await runChecked("umoci", ["insert", "--image", layout + ":img", try Tool.path("busybox"), "/bin/busybox"], in: directory)
        try "hello from a layer\n".write(toFile: directory.file("greeting"), atomically: true, encoding: .utf8)
        try await runChecked("umoci", ["insert", "--image", layout + ":img", directory.file("greeting"), "/greeting"], in: directory)
        // ctr names an imported OCI archive by this annotation.
        let indexPath = layout + "/index.json"
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        var manifests = index["manifests"] as! [[String: Any]]
        var annotations = manifests[0]["annotations"] as? [String: String] ?? [:]
        annotations["io.containerd.image.name"] = "docker.io/library/buse-test:latest"
        manifests[0]["annotations"] = annotations
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        try await runChecked("tar", ["-C", layout, "-cf", directory.file("image.tar"), "."], in: directory)
    }
}
