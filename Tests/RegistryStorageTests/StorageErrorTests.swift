import Glibc
import RegistryCore
import Testing

@testable import RegistryStorage

@Suite struct StorageErrorTests {
    static let digest = Fixture.sha256([0])
    static let id = (try? UploadID(validating: "0f8fad5b-d9cb-469f-a165-70867728950e")) ?? { fatalError("bad test id") }()

    static let table: [(StorageError, ErrorCode?)] = [
        (.system(operation: "fsync", path: "/x", errno: 5), nil),
        (.corruptLink(path: "/x"), nil),
        (.blobUnknown(digest), .blobUnknown),
        (.digestMismatch(expected: digest, actual: digest), .digestInvalid),
        (.uploadUnknown(id), .blobUploadUnknown),
        (.uploadBusy(id), .blobUploadInvalid),
        (.uploadTooLarge(limit: 1), .sizeInvalid),
        (.manifestUnknown(.digest(digest)), .manifestUnknown),
        (.manifestBlobUnknown(digest), .manifestBlobUnknown),
        (.manifestInvalid(RegistryError(.manifestInvalid)), .manifestInvalid),
        (.nameUnknown((try? RepositoryName(validating: "a")) ?? { fatalError("bad test name") }()), .nameUnknown),
    ]

    @Test(arguments: table)
    func eachFailureMapsToOneRegistryErrorOrToAServerError(_ error: StorageError, _ code: ErrorCode?) {
        #expect(error.registryError?.code == code)
    }
}

@Suite struct StorageErrorDescriptionTests {
    @Test func anOperatingFailureNamesTheCallThePathAndTheCause() {
        let error = StorageError.system(operation: "fsync", path: "/srv/registry/x", errno: ENOSPC)
        #expect(error.description == "fsync /srv/registry/x: No space left on device")
    }

    @Test func aClientErrorReadsAsItsCodeAndMessage() {
        let error = StorageError.blobUnknown(StorageErrorTests.digest)
        #expect(error.description == "BLOB_UNKNOWN: blob unknown to registry (digest \(StorageErrorTests.digest))")
    }
}
