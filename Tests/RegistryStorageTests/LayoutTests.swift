import RegistryCore
import Testing

@testable import RegistryStorage

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
