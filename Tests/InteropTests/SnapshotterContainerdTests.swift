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
        let socket = directory.file("containerd.sock")
        let config = """
            version = 2
            root = "\(directory.file("containerd-root"))"
            state = "\(directory.file("containerd-state"))"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [proxy_plugins.buse]
              type = "snapshot"
              address = "\(directory.file("buse.sock"))"
            """
        try config.write(toFile: directory.file("config.toml"), atomically: true, encoding: .utf8)
        // containerd dials the snapshotter with backoff: start it first.
        let snapshotter = try ChildProcess(
            try Tool.buse(), ["snapshotter", "serve", "--root", directory.file("snapshots"), "--socket", directory.file("buse.sock")],
            outputPrefix: directory.file("buse"))
        let containerd = try ChildProcess(
            try Tool.path("containerd"), ["--config", directory.file("config.toml")], outputPrefix: directory.file("containerd"))
        defer {
            containerd.send(SIGTERM)
            _ = containerd.waitBlocking(seconds: 30)
            snapshotter.send(SIGTERM)
            _ = snapshotter.waitBlocking(seconds: 30)
        }
        try await waitUntil("containerd listens") { FileManager.default.fileExists(atPath: socket) }
        let ctr = ["-a", socket]
        try await runChecked("ctr", ctr + ["images", "import", "--snapshotter", "buse", directory.file("image.tar")], in: directory)
        let snapshots = try await runChecked("ctr", ctr + ["snapshots", "--snapshotter", "buse", "ls"], in: directory)
        #expect(snapshots.standardOutput.components(separatedBy: "Committed").count == 3, "\(snapshots)")
        let container = try await runChecked(
            "ctr",
            ctr + [
                "run", "--rm", "--snapshotter", "buse", "docker.io/library/buse-test:latest", "c1",
                "/bin/busybox", "sh", "-c", "cat /greeting && echo written > /written && cat /written",
            ], in: directory, timeout: .seconds(120))
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
