import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct LargeAndConcurrentUploadTests {
    /// Deterministic bytes, larger than the 1 MiB re-hash buffer.
    static let large: [UInt8] = {
        var state: UInt32 = 0x1234_5678
        return (0..<(2_500_000)).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }()

    @Test(arguments: [DigestAlgorithm.sha256, .sha512])
    func aLargeUploadResumedWithoutItsHashVerifies(algorithm: DigestAlgorithm) throws {
        let directory = TemporaryDirectory()
        let name = try Fixture.name("big")
        let id = try directory.store().uploads.start(name, now: 0)
        let half = Self.large.count / 2 + 12_345
        do {
            var upload = try directory.store().uploads.open(name, id)
            for start in stride(from: 0, to: half, by: 65_536) {
                try upload.append(Array(Self.large[start..<min(start + 65_536, half)]))
            }
        }
        let store = try directory.store()
        var upload = try store.uploads.open(name, id)
        #expect(upload.size == UInt64(half))
        try upload.append(Array(Self.large[half...]))
        let digest = ContentHasher.digest(of: Self.large, algorithm: algorithm)
        #expect(try store.commit(upload, as: digest) == UInt64(Self.large.count))
        let reader = try store.repository(name).openBlob(digest)
        #expect(try reader.read(at: 0, length: Self.large.count + 1) == Self.large)
    }

    @Test func concurrentPushesOfOneBlobAllSucceed() async throws {
        let directory = TemporaryDirectory()
        let store = try directory.store()
        let content = Array(Self.large[0..<300_000])
        let digest = Fixture.sha256(content)
        let results = try await withThrowingTaskGroup(of: Digest.self) { group in
            for index in 0..<4 {
                group.addTask {
                    try Fixture.push(content, to: Fixture.name(index % 2 == 0 ? "even" : "odd"), in: store, chunk: 50_000 + index)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == Array(repeating: digest, count: 4))
        for name in ["even", "odd"] {
            #expect(try store.repository(Fixture.name(name)).openBlob(digest).read(at: 0, length: 400_000) == content)
        }
        #expect(try !directory.allPaths().contains { $0.contains("_uploads/") || $0.contains(".tmp") })
    }
}
