import Foundation
import Testing

/// podman 4.3 (as root, vfs storage, no systemd) loads an image umoci
/// built, pushes it to
/// `buse registry serve` and pulls it back after removing it locally: the
/// same image ID (its config digest) and the manifest digest podman
/// reported at push.
@Suite struct RegistryPodmanTests {
    @Test(.timeLimit(.minutes(10)))
    func podmanPushesAndPullsBackTheSameImage() async throws {
        let directory = try TemporaryDirectory()
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: [300_000, 4096], in: directory)
        let registry = try await RegistryProcess(in: directory)
        let podman = Podman(directory: directory)

        // `podman pull oci:DIR` would name the image after DIR, which has
        // capitals here; an OCI archive is named by its ref.name instead.
        try await runChecked("tar", ["-C", layout, "-cf", directory.file("image.tar"), "."], in: directory)
        try await podman.run(["load", "--input", directory.file("image.tar")])
        let loaded = try await podman.run(["images", "--quiet", "--no-trunc"]).standardOutput
            .split(separator: "\n").map(String.init)
        #expect(loaded.count == 1, "podman holds \(loaded)")
        let imageID = try #require(loaded.first)

        let reference = "\(registry.address)/team/podman:v1"
        let digestFile = directory.file("pushed-digest")
        try await podman.run(["push", "--tls-verify=false", "--digestfile", digestFile, imageID, reference], registry)
        let pushed = try String(contentsOfFile: digestFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pushed.hasPrefix("sha256:"))

        try await podman.run(["rmi", "--force", imageID])
        #expect(try await podman.run(["images", "--quiet"]).standardOutput.isEmpty, "the image is still in podman's storage")
        try await podman.run(["pull", "--tls-verify=false", reference], registry)
        let inspected = try await podman.run(["inspect", "--format", "{{.Id}} {{.Digest}}", reference]).standardOutput
        #expect(
            inspected.trimmingCharacters(in: .whitespacesAndNewlines)
                == "\(imageID.replacingOccurrences(of: "sha256:", with: "")) \(pushed)")
        #expect(await registry.stop() == .exit(0), "\(registry.log)")
    }

    /// podman with its storage, run root and events under the test's directory.
    struct Podman {
        let directory: TemporaryDirectory

        /// The options before the command: storage, run root and events here.
        var global: [String] {
            [
                "--root", directory.file("podman-root"), "--runroot", directory.file("podman-runroot"), "--storage-driver", "vfs",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            ]
        }

        @discardableResult
        func run(_ arguments: [String], _ registry: RegistryProcess? = nil) async throws -> RunResult {
            let result = try await InteropTests.run("podman", global + arguments, in: directory, timeout: .seconds(180))
            guard result.succeeded else {
                throw InteropError("podman failed:\n\(result)" + (registry.map { "\n--- registry log ---\n\($0.log)" } ?? ""))
            }
            return result
        }
    }
}
