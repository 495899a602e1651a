public import RegistryCore

/// Why a storage operation failed.
///
/// The client-caused cases map to exactly one registry error; `system` is an
/// operating failure (EIO, ENOSPC, EACCES...) that the HTTP layer logs with
/// its path and answers 500, since nothing the client changes will fix it.
public enum StorageError: Error, Sendable, Equatable {
    /// A syscall failed; `operation` names it, `path` says on what.
    case system(operation: String, path: String, errno: Int32)
    case blobUnknown(Digest)
    /// The uploaded bytes hash to `actual`, not to the digest the client gave.
    case digestMismatch(expected: Digest, actual: Digest)
    case uploadUnknown(UploadID)
    /// Another request is appending to this upload right now.
    case uploadBusy(UploadID)
    /// The upload would grow past `UploadStore.sizeMaximum`.
    case uploadTooLarge(limit: UInt64)
    case manifestUnknown(Reference)
    /// A manifest names a blob or child manifest the repository does not have.
    case manifestBlobUnknown(Digest)
    /// The manifest bytes were refused by `Manifest.parse`, or a PUT by digest
    /// sent bytes with another digest.
    case manifestInvalid(RegistryError)
    case nameUnknown(RepositoryName)
    /// A link file that does not hold a digest: damage from outside, reported
    /// rather than guessed around.
    case corruptLink(path: String)

    /// The error for the client, or nil for an operating failure (answer 500).
    public var registryError: RegistryError? {
        switch self {
        case .system, .corruptLink: nil
        case .blobUnknown(let digest): RegistryError(.blobUnknown, detail: ["digest": digest.description])
        case .digestMismatch(let expected, let actual):
            RegistryError(.digestInvalid, detail: ["expected": expected.description, "actual": actual.description])
        case .uploadUnknown(let id): RegistryError(.blobUploadUnknown, detail: ["id": id.value])
        case .uploadBusy(let id): RegistryError(.blobUploadInvalid, message: "upload in use by another request", detail: ["id": id.value])
        case .uploadTooLarge(let limit): RegistryError(.sizeInvalid, message: "upload larger than \(limit) bytes")
        case .manifestUnknown(let reference): RegistryError(.manifestUnknown, detail: ["reference": reference.description])
        case .manifestBlobUnknown(let digest): RegistryError(.manifestBlobUnknown, detail: ["digest": digest.description])
        case .manifestInvalid(let error): error
        case .nameUnknown(let name): RegistryError(.nameUnknown, detail: ["name": name.value])
        }
    }
}
