import Foundation

/// OCI archives for `ctr images import`, built with umoci from busybox and
/// small files: one layer of busybox, then one layer per file.
enum SnapshotterImages {
    /// busybox, then a layer per entry of `files` (path in the image → bytes
    /// of seeded content), as `docker.io/library/NAME:latest`; returns the
    /// archive's path.
    static func busyboxPlus(files: [(path: String, size: Int)], name: String, in directory: TemporaryDirectory) async throws -> String {
        let layout = directory.file("oci-\(name)")
        try await runChecked("umoci", ["init", "--layout", layout], in: directory)
        try await runChecked("umoci", ["new", "--image", layout + ":img"], in: directory)
        try await runChecked("umoci", ["insert", "--image", layout + ":img", try Tool.path("busybox"), "/bin/busybox"], in: directory)
        for (index, file) in files.enumerated() {
            let source = directory.file("\(name)-file-\(index)")
            var bytes = Array("\(file.path)\n".utf8)
            var value = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
            while bytes.count < file.size {
                value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: value >> 33))
            }
            try Data(bytes.prefix(max(file.size, bytes.count))).write(to: URL(fileURLWithPath: source))
            try await runChecked("umoci", ["insert", "--image", layout + ":img", source, file.path], in: directory)
        }
        // ctr names an imported OCI archive by this annotation.
        let indexPath = layout + "/index.json"
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        var manifests = index["manifests"] as! [[String: Any]]
        var annotations = manifests[0]["annotations"] as? [String: String] ?? [:]
        annotations["io.containerd.image.name"] = "docker.io/library/\(name):latest"
        manifests[0]["annotations"] = annotations
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        let archive = directory.file("\(name).tar")
        try await runChecked("tar", ["-C", layout, "-cf", archive, "."], in: directory)
        return archive
    }
}
