import Foundation
import TestSupport
import Testing

/// The registry's root on ext4 on a buse export (nbdfuse and a loop device,
/// as on a host without the nbd module): skopeo pushes an image and pulls it
/// back identical, and the registry's fsyncs reach buse as FLUSHes: a run
/// that pushes sends buse at least one more FLUSH per blob than the same
/// run without the push (buse's exit summary counts them). The same on a
/// RADOS image of the test cluster, where a user who outgrew one machine's
/// disks keeps the root. The kernel path is nbd/scenarios/09 and 10.
@Suite struct RegistryOnVolumeTests {
    /// And `--sync grouped` (the default with `--volume`: the registry has
    /// the filesystem to itself) sends fewer FLUSHes for the same push than
    /// an fsync per directory, still at least one per blob.
    @Test func imagesPushedToARegistryOnABuseVolumeAreFlushedToItAndPullBack() async throws {
        let volume: (TemporaryDirectory) -> String = { "file:\($0.file("volume.img"))?size=256M" }
        let idle = try await flushes(pushing: false, uri: volume)
        let each = try await flushes(pushing: true, sync: "each", uri: volume)
        let grouped = try await flushes(pushing: true, sync: "grouped", uri: volume)
        #expect(each.flushes >= idle.flushes + each.blobs, "pushing \(each.blobs) blobs: \(each.flushes) against \(idle.flushes)")
        #expect(grouped.flushes >= idle.flushes + grouped.blobs, "grouped: \(grouped.flushes) against \(idle.flushes)")
        #expect(grouped.flushes < each.flushes, "grouped syncs: \(grouped.flushes) FLUSHes, one fsync per directory: \(each.flushes)")
        let perObject = { (run: (flushes: Int, blobs: Int)) in
            String(format: "%.1f", Double(run.flushes - idle.flushes) / Double(run.blobs))
        }
        print(
            "registry on a buse volume: \(each.blobs) blobs and manifests pushed; FLUSHes per object beyond an idle run: "
                + "\(perObject(each)) with --sync each, \(perObject(grouped)) with --sync grouped"
        )
    }

    @Test func imagesPushedToARegistryOnARadosVolumePullBackAndEveryBlobIsFlushed() async throws {
        try await Ext4OnExport.checkPrerequisites()
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(size: "256M", conf: conf, cleanup: cleanup, in: directory)
        let pushed = try await flushes(pushing: true, sync: "grouped") { _ in image.uri() }
        // mkfs, mount and unmount alone send a few; the push at least one per blob.
        #expect(pushed.flushes >= pushed.blobs, "pushing \(pushed.blobs) blobs: \(pushed.flushes) FLUSHes")
        try await image.remove(in: directory)
        print("registry on a RADOS volume: \(pushed.blobs) blobs and manifests pushed, \(pushed.flushes) FLUSHes in the whole run")
    }

    /// FLUSHes buse received over a whole run: export the device `uri` names
    /// (given the run's directory), mkfs, mount, registry (pushing and
    /// pulling an image, or not), unmount.
    private func flushes(
        pushing: Bool, sync: String = "each", uri: (TemporaryDirectory) -> String
    ) async throws -> (flushes: Int, blobs: Int) {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let buse = try await BuseServer(exports: ["registry=\(uri(directory))"], in: directory)
        let volume = try await MountedExport.mount(uri: buse.uri("registry"), in: directory, cleanup: cleanup)
        let root = volume.mountPoint + "/registry"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let registry = try await RegistryProcess(in: directory, root: root, options: ["--sync", sync])
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
