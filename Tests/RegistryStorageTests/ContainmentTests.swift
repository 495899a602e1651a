import Glibc
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

@Suite struct LayoutTests {
    static let hex = String(repeating: "ab", count: 32)

    @Test func pathsAreDistributions() throws {
        let layout = Layout(root: "/srv/registry/")
        let name = try Fixture.name("library/ubuntu")
        let digest = try Digest(parsing: "sha256:" + Self.hex)
        let id = try UploadID(validating: "0f8fad5b-d9cb-469f-a165-70867728950e")
        let v2 = "/srv/registry/docker/registry/v2"
        let repository = v2 + "/repositories/library/ubuntu"
        let table: [(String, String)] = [
            (layout.blobData(digest), "\(v2)/blobs/sha256/ab/\(Self.hex)/data"),
            (layout.layerLink(name, digest), "\(repository)/_layers/sha256/\(Self.hex)/link"),
            (layout.revisionLink(name, digest), "\(repository)/_manifests/revisions/sha256/\(Self.hex)/link"),
            (layout.tagCurrentLink(name, try Fixture.tag("latest")), "\(repository)/_manifests/tags/latest/current/link"),
            (
                layout.tagIndexLink(name, try Fixture.tag("latest"), digest),
                "\(repository)/_manifests/tags/latest/index/sha256/\(Self.hex)/link"
            ),
            (layout.uploadData(name, id), "\(repository)/_uploads/\(id)/data"),
            (layout.uploadStartedAt(name, id), "\(repository)/_uploads/\(id)/startedat"),
            (layout.referrerLink(name, digest, digest), "\(repository)/_referrers/sha256/\(Self.hex)/sha256/\(Self.hex)/link"),
        ]
        for (actual, expected) in table { #expect(actual == expected) }
    }

    @Test(
        arguments: [
            ("2023-11-14T22:13:20Z", 1_700_000_000), ("2023-11-14T22:13:20.123456789Z", 1_700_000_000),
            ("2023-11-14T23:13:20+01:00", 1_700_000_000), ("2023-11-14T21:13:20-01:00", 1_700_000_000), ("1970-01-01T00:00:00Z", 0),
        ] as [(String, Int64)])
    func startedAtTimesParseWithAnyOffset(_ text: String, _ seconds: Int64) {
        #expect(RFC3339.parse(text) == seconds)
    }

    @Test(arguments: ["", "yesterday", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20", "2023-11-14T22:13:20+0100", "2023-1x-14T22:13:20Z"])
    func startedAtJunkDoesNotParse(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }
}

@Suite struct LeftoverTests {
    @Test func crashLeftoversAreRemovedAndNothingElse() throws {
        let image = try ManifestStoreTests.Image()
        let stored = try image.repository.putManifest(image.manifest, contentType: nil, reference: .tag(Fixture.tag("v1")))
        let before = try image.directory.allPaths()
        let layout = image.store.layout
        let leftovers = [
            LinkFile.parent(of: layout.tagCurrentLink(image.name, try Fixture.tag("v1"))) + "/.tmp-1f",
            layout.blobDirectory(stored.digest) + "/.tmp-data-2e",
        ]
        for path in leftovers { _ = try DurableFile(path: path, flags: O_WRONLY | O_CREAT) }
        try Directory.create(layout.manifests(image.name) + "/.deleted-tag-3d/current", below: layout.base)
        #expect(try image.store.removeLeftovers() == 3)
        #expect(try image.directory.allPaths() == before)
        #expect(try image.repository.manifest(.tag(Fixture.tag("v1"))).digest == stored.digest)
    }
}
