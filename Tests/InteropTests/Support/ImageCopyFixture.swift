import Foundation
import Testing

/// What the `buse image import|export|copy` tests share: a unique image
/// name removed at the end whatever happens, the pool's objects of one
/// image, and a file's allocated bytes.
struct ImageCopyFixture {
    let conf: String
    let directory: TemporaryDirectory
    let cleanup: Cleanup

    /// A name no image has yet, under the shared pool, as `pool/name`;
    /// `buse image rm` runs on it at cleanup in case the test leaves it.
    func newImage() throws -> String {
        let spec = "\(SharedCluster.pool)/interop-copy-\(UUID().uuidString.prefix(8).lowercased())"
        _ = cleanup.add([try Tool.buse(), "image", "rm", spec, "--break-lock", "--conf", conf])
        return spec
    }

    /// Runs `buse image ARGUMENTS --conf CONF`, whatever its outcome.
    func image(_ arguments: [String]) async throws -> RunResult {
        try await run(try Tool.buse(), ["image"] + arguments + ["--conf", conf], in: directory, timeout: .seconds(600))
    }

    /// The data objects `rados ls` lists for an image.
    func dataObjects(_ spec: String) async throws -> [String] {
        let name = spec.split(separator: "/").last.map(String.init) ?? spec
        return try await SharedCluster.objects(conf: conf, in: directory).filter { $0.hasPrefix("buse_data.\(name).") }
    }

    /// Whether any object of an image is left in the pool.
    func anyObjectLeft(_ spec: String) async throws -> Bool {
        let name = spec.split(separator: "/").last.map(String.init) ?? spec
        return try await SharedCluster.objects(conf: conf, in: directory).contains { $0.hasSuffix(".\(name)") || $0.contains(".\(name).") }
    }

    /// Bytes of storage a file holds (st_blocks), which holes do not count.
    static func allocatedBytes(_ path: String) throws -> UInt64 {
        var status = stat()
        guard stat(path, &status) == 0 else { throw InteropError("stat \(path): \(String(cString: strerror(errno)))") }
        return UInt64(status.st_blocks) * 512
    }
}
