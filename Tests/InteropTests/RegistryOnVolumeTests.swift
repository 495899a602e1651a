import Foundation
import TestSupport
import Testing

/// The registry's root on ext4 on a buse export (nbdfuse and a loop device,
/// as on a host without the nbd module): skopeo pushes an image and pulls it
/// back identical, and the registry's fsyncs reach buse as FLUSHes: a run
/// that pushes sends buse at least one more FLUSH per blob than the same
/// run without the push (buse's exit summary counts them). The kernel path
/// is nbd/scenarios/09.
@Suite struct RegistryOnVolumeTests {
    @Test func imagesPushedToARegistryOnABuseVolumeAreFlushedToItAndPullBack() async throws {
        let idle = try await flushes(pushing: false)
        let pushed = try await flushes(pushing: true)
        #expect(pushed.flushes >= idle.flushes + pushed.blobs, "pushing \(pushed.blobs) blobs: \(pushed.flushes) against \(idle.flushes)")
        print(
            "registry on a buse volume: \(pushed.blobs) blobs and manifests pushed, \(pushed.flushes - idle.flushes) FLUSHes beyond an idle run"
        )
    }

    /// FLUSHes buse received over a whole run: export, mkfs, mount, registry
    /// (pushing and pulling an image, or not), unmount.
    private func flushes(pushing: Bool) async throws -> (flushes: Int, blobs: Int) {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let buse = try await BuseServer(exports: ["registry=file:\(directory.file("volume.img"))?size=256M"], in: directory)
        let volume = try await MountedExport.mount(uri: buse.uri("registry"), in: directory, cleanup: cleanup)
        let root = volume.mountPoint + "/registry"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let registry = try await RegistryProcess(in: directory, root: root)
        var blobs = 0
        if pushing { blobs = try await pushAndPull(registry, directory) }
        #expect(await registry.stop() == .exit(0), "\(registry.log)")
        try await volume.unmount()
        await buse.stopExpectingCleanExit()
        // "export registry served reads=… writes=… flushes=N …"
        let summary = buse.process.standardError.split(separator: "\n").last { $0.contains("export registry served") }
        let flushes = summary.flatMap { line in
            line.split(separator: " ").first { $0.hasPrefix("flushes=") }.flatMap { Int($0.dropFirst("flushes=".count)) }
        }
        guard let flushes else { throw InteropError("buse printed no summary:\n\(buse.log)") }
        return (flushes, blobs)
    }

    /// Pushes an image of three layers and pulls it back identical; returns
    /// how many blobs and manifests the push stored.
    private func pushAndPull(_ registry: RegistryProcess, _ directory: TemporaryDirectory) async throws -> Int {
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: [1 << 20, 100_000, 10], in: directory)
        let reference = "docker://\(registry.address)/team/app:v1"
        try await runChecked(
            "skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layout):v1", reference], in: directory, timeout: .seconds(120))
        let pulled = directory.file("pulled")
        try await runChecked(
            "skopeo", ["copy", "--src-tls-verify=false", reference, "oci:\(pulled):v1"], in: directory, timeout: .seconds(120))
        let manifest = try RegistryImageLayout.manifestDigest(of: layout, tag: "v1")
        #expect(try RegistryImageLayout.manifestDigest(of: pulled, tag: "v1") == manifest)
        let blobs = try RegistryImageLayout.blobDigests(of: layout, manifest: manifest)
        #expect(try RegistryImageLayout.blobDigests(of: pulled, manifest: manifest) == blobs)
        return blobs.count + 1
    }
}
