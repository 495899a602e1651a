import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

/// The directory an operator gives as `--root`: a directory, or a symbolic
/// link to one (a /srv/registry linked onto a data disk), whose content
/// lands in the directory linked to. Anything else is refused with the
/// reason: missing, or not a directory.
@Suite struct RegistryRootTests {
    @Test func aRootThatIsASymbolicLinkToADirectoryHoldsWhatIsPushed() throws {
        let directory = TemporaryDirectory()
        let link = directory.path + "/linked-root"
        #expect(symlink(directory.root, link) == 0)
        let store = try RegistryStore(root: link)
        let digest = try Fixture.push(Array("through the link".utf8), to: try Fixture.name("team/app"), in: store)
        #expect(try store.blobs.size(of: digest) == 16)
        // In the directory linked to, as distribution lays it out.
        #expect(try directory.contents("docker/registry/v2/repositories/team/app/_layers/sha256/\(digest.encoded)/link") == "\(digest)")
    }

    @Test func aMissingRootIsRefusedAsMissing() {
        let directory = TemporaryDirectory()
        let missing = directory.path + "/missing"
        #expect(throws: StorageError.system(operation: "open registry root", path: missing, errno: ENOENT)) {
            try RegistryStore(root: missing)
        }
    }

    @Test func aRootThatIsAFileIsRefusedAsNotADirectory() throws {
        let directory = TemporaryDirectory()
        let file = directory.path + "/file"
        let descriptor = open(file, O_CREAT | O_WRONLY, 0o644)
        #expect(descriptor >= 0)
        close(descriptor)
        #expect(throws: StorageError.system(operation: "open registry root", path: file, errno: ENOTDIR)) {
            try RegistryStore(root: file)
        }
    }
}
