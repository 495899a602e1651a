import RegistryCore
import Testing

@testable import RegistryStorage

/// Storage takes only validated names, so hostile input cannot become a
/// path; these tests pin both halves of that.
@Suite struct ContainmentTests {
    static let hostileNames = [
        "..", "../x", "a/../../x", "a/./b", "/etc", "a//b", "_layers", "a/_manifests", ".hidden", "a/.tmp", "a\0b", "a%2F..",
        "A", "a/", "",
    ]

    @Test(arguments: hostileNames)
    func hostileRepositoryNamesNeverValidate(_ text: String) {
        #expect(!RepositoryName.isValid(text))
    }

    @Test(arguments: ["..", ".", "../x", "a/b", ".tmp", "\0", ""])
    func hostileTagsNeverValidate(_ text: String) {
        #expect(!RegistryCore.Tag.isValid(text))
    }

    @Test(arguments: ["sha256:../../../etc/passwd", "sha256:" + String(repeating: "a", count: 63) + "/", "../sha256:aa"])
    func hostileDigestsNeverParse(_ text: String) {
        #expect(throws: DigestError.self) { try Digest(parsing: text) }
    }

    @Test func everythingAFullWorkflowWritesStaysUnderTheRegistryDirectory() throws {
        let image = try ManifestStoreTests.Image("deep/er/name")
        let stored = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let referrer = Fixture.imageManifest(config: image.config, layers: [], subject: (stored.digest, 1))
        _ = try image.repository.putManifest(referrer, contentType: nil, reference: .digest(Fixture.sha256(referrer)))
        _ = try image.store.uploads.start(image.name, now: 0)
        try image.repository.deleteTag(Fixture.tag("v1"))
        let outside = try image.directory.allPaths().filter { !$0.hasPrefix("root/docker/registry/v2") }
        #expect(outside == ["root", "root/docker", "root/docker/registry"])
        let unexpected = try image.directory.allPaths().filter {
            $0.hasPrefix("root/docker/registry/v2/") && !$0.hasPrefix("root/docker/registry/v2/blobs")
                && !$0.hasPrefix("root/docker/registry/v2/repositories")
        }
        #expect(unexpected.isEmpty)
    }
}
