import Foundation
import Testing

/// The services that keep their data under `--root DIR` or on a buse volume
/// (`buse registry serve`, `buse snapshotter serve`) take exactly one of the
/// two, and say so before touching anything: a usage error (exit 64) with
/// the sentence that tells the operator what to give.
@Suite struct VolumeServiceArgumentTests {
    static let services: [[String]] = [
        ["registry", "serve", "--listen", "127.0.0.1:0"],
        ["snapshotter", "serve", "--socket", "/nonexistent/buse-test.sock"],
    ]

    static let rootOrVolume = "give --root DIR, or --volume DEVICE-URI with --mount DIR (not both)"

    @Test(arguments: services)
    func neitherARootNorAVolumeIsAUsageError(service: [String]) async throws {
        let directory = try TemporaryDirectory()
        let result = try await run(try Tool.buse(), service, in: directory, timeout: .seconds(60))
        #expect(result.exitStatus == 64, "\(result)")
        #expect(result.standardError.contains(Self.rootOrVolume), "\(result)")
    }

    @Test(arguments: services)
    func aRootAndAVolumeTogetherAreAUsageError(service: [String]) async throws {
        let directory = try TemporaryDirectory()
        let arguments =
            service + [
                "--root", directory.file("root"), "--volume", "file:\(directory.file("disk.img"))", "--mount", directory.file("mnt"),
            ]
        let result = try await run(try Tool.buse(), arguments, in: directory, timeout: .seconds(60))
        #expect(result.exitStatus == 64, "\(result)")
        #expect(result.standardError.contains(Self.rootOrVolume), "\(result)")
        // Refused before anything was made or attached.
        #expect(!FileManager.default.fileExists(atPath: directory.file("root")))
        #expect(!FileManager.default.fileExists(atPath: directory.file("mnt")))
    }

    /// A volume is never mounted over another filesystem: a mount point
    /// that is one already is refused before the volume is opened (its
    /// image is not even made). A mount point holding this volume's own
    /// device, left by a service that died, is reattached instead (kernel
    /// scenario 13).
    @Test(arguments: services)
    func aMountPointThatIsAnotherFilesystemsIsRefusedBeforeAnything(service: [String]) async throws {
        let directory = try TemporaryDirectory()
        let arguments = service + ["--volume", "file:\(directory.file("disk.img"))?size=64M", "--mount", "/proc"]
        let result = try await run(try Tool.buse(), arguments, in: directory, timeout: .seconds(60))
        #expect(result.exitStatus == 1, "\(result)")
        #expect(
            result.standardError.contains("--mount /proc is already a mount point (proc, proc)"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("disk.img")))
    }

    @Test(arguments: services)
    func formatWithoutAVolumeIsAUsageError(service: [String]) async throws {
        let directory = try TemporaryDirectory()
        let result = try await run(try Tool.buse(), service + ["--root", directory.file("root"), "--format"], in: directory)
        #expect(result.exitStatus == 64, "\(result)")
        #expect(result.standardError.contains("--format makes a filesystem on a --volume"), "\(result)")
    }
}
