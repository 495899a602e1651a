/// The error codes of the OCI distribution spec v1.1 (section "Error Codes"),
/// plus the two that distribution adds and clients already understand.
///
/// Each code has exactly one HTTP status, taken from distribution's
/// `errcode` tables so that clients see what docker-registry would send.
/// A caller may still override the status for one response (see
/// `RegistryError.status`), for example a name that fails validation in a
/// request path is answered 404, because no such resource can exist.
public enum ErrorCode: String, Sendable, CaseIterable, Equatable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case sizeInvalid = "SIZE_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    /// Not in the spec; distribution answers a bad upload or read range with it.
    case rangeInvalid = "RANGE_INVALID"
    /// Not in the spec; distribution (v3) answers a bad `n` with it.
    case paginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
    /// Not in v1.1's table (the spec names it among the codes clients may
    /// meet); distribution's code for a bad tag, and ours for a `tag` query
    /// parameter of a manifest PUT that is not a valid tag.
    case tagInvalid = "TAG_INVALID"

    /// The HTTP status distribution sends with this code.
    public var status: Int {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: 404
        case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid, .sizeInvalid,
            .paginationNumberInvalid, .tagInvalid:
            400
        case .unauthorized: 401
        case .denied: 403
        case .unsupported: 405
        case .rangeInvalid: 416
        case .tooManyRequests: 429
        }
    }

    /// The spec's one-line description, used when nothing more precise is known.
    public var defaultMessage: String {
        switch self {
        case .blobUnknown: "blob unknown to registry"
        case .blobUploadInvalid: "blob upload invalid"
        case .blobUploadUnknown: "blob upload unknown to registry"
        case .digestInvalid: "provided digest did not match uploaded content"
        case .manifestBlobUnknown: "manifest references a manifest or blob unknown to registry"
        case .manifestInvalid: "manifest invalid"
        case .manifestUnknown: "manifest unknown to registry"
        case .nameInvalid: "invalid repository name"
        case .nameUnknown: "repository name not known to registry"
        case .sizeInvalid: "provided length did not match content length"
        case .unauthorized: "authentication required"
        case .denied: "requested access to the resource is denied"
        case .unsupported: "the operation is unsupported"
        case .tooManyRequests: "too many requests"
        case .rangeInvalid: "invalid content range"
        case .paginationNumberInvalid: "invalid number of results requested"
        case .tagInvalid: "manifest tag did not match URI"
        }
    }
}
