import Foundation
import TestSupport
import Testing

/// Real containerd end to end: a private containerd 1.6 (its own config,
/// root, state and socket in a temporary directory, CRI disabled) loads
/// `buse snapshotter serve` as a proxy plugin, imports an image built with
/// umoci (as an OCI archive with gzip or zstd layers, or as a docker-archive
/// made by skopeo), and runs a container from it with runc. Runs as root.
@Suite struct SnapshotterContainerdTests {
    /// The archive forms `ctr images import` takes, as skopeo and umoci make them.
    enum Archive: String, CaseIterable, CustomTestStringConvertible {
        /// umoci's OCI layout (gzip layers), tarred.
        case ociGzip = "OCI, gzip layers"
        /// The same image copied by skopeo with its layers recompressed as zstd.
        case ociZstd = "OCI, zstd layers"
        /// The same image as `docker save` writes it (skopeo's docker-archive).
        case dockerArchive = "docker-archive"

        var testDescription: String { rawValue }
    }

    @Test(.timeLimit(.minutes(10)), arguments: Archive.allCases)
    func containerdImportsAndRunsAnImageOnBuseSnapshots(from archive: Archive) async throws {
        let directory = try TemporaryDirectory()
        let path = try await makeImage(archive, in: directory)
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        try await containerd.ctr(["images", "import", "--snapshotter", "buse", path])
        let snapshots = try await containerd.snapshots(["ls"])
        #expect(snapshots.standardOutput.components(separatedBy: "Committed").count == 3, "\(snapshots)")
        let container = try await containerd.ctr(
            [
                // runc keeps container ids machine-wide, whichever containerd: unique ones.
                "run", "--rm", "--snapshotter", "buse", "docker.io/library/buse-test:latest", "c1-\(UInt32.random(in: 0 ... .max))",
                "/bin/busybox", "sh", "-c", "cat /greeting && echo written > /written && cat /written",
            ], timeout: .seconds(120))
        #expect(container.standardOutput == "hello from a layer\nwritten\n", "\(container)")
    }

    /// Two layers (busybox, then a file) as an archive of the given form; returns its path.
    private func makeImage(_ archive: Archive, in directory: TemporaryDirectory) async throws -> String {
        let name = "docker.io/library/buse-test:latest"
        var layout = directory.file("oci")
        try await runChecked("umoci", ["init", "--layout", layout], in: directory)
        try await runChecked("umoci", ["new", "--image", layout + ":img"], in: directory)
        try await runChecked("umoci", ["insert", "--image", layout + ":img", try Tool.path("busybox"), "/bin/busybox"], in: directory)
        try "hello from a layer\n".write(toFile: directory.file("greeting"), atomically: true, encoding: .utf8)
        try await runChecked("umoci", ["insert", "--image", layout + ":img", directory.file("greeting"), "/greeting"], in: directory)
        switch archive {
        case .ociGzip: break
        case .ociZstd:
            let zstd = directory.file("oci-zstd")
            try await runChecked(
                "skopeo", ["copy", "--dest-compress-format", "zstd", "oci:\(layout):img", "oci:\(zstd):img"], in: directory,
                timeout: .seconds(120))
            let manifest = try await runChecked("skopeo", ["inspect", "--raw", "oci:\(zstd):img"], in: directory)
            #expect(manifest.standardOutput.contains("tar+zstd"), "skopeo recompressed the layers: \(manifest)")
            layout = zstd
        case .dockerArchive:
            let path = directory.file("image-docker.tar")
            try await runChecked(
                "skopeo", ["copy", "oci:\(layout):img", "docker-archive:\(path):\(name)"], in: directory, timeout: .seconds(120))
            return path
        }
        // ctr names an imported OCI archive by this annotation.
        let indexPath = layout + "/index.json"
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        var manifests = index["manifests"] as! [[String: Any]]
        var annotations = manifests[0]["annotations"] as? [String: String] ?? [:]
        annotations["io.containerd.image.name"] = name
        manifests[0]["annotations"] = annotations
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        try await runChecked("tar", ["-C", layout, "-cf", directory.file("image.tar"), "."], in: directory)
        return directory.file("image.tar")
    }
}
