import Hummingbird

/// A header name. Hummingbird re-exports `HTTPFields` but not `HTTPField`,
/// so the type is reached through the collection's element.
typealias HeaderName = HTTPFields.Element.Name

/// The header names the distribution spec adds to HTTP's, and `Link`
/// (RFC 8288), which HTTPTypes does not predefine.
extension HeaderName {
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    static let dockerDistributionAPIVersion = Self("Docker-Distribution-API-Version")!
    static let ociSubject = Self("OCI-Subject")!
    static let ociFiltersApplied = Self("OCI-Filters-Applied")!
    static let ociTag = Self("OCI-Tag")!
    static let link = Self("Link")!
}

/// Hummingbird's response body, under a name that RegistryCore's
/// `ResponseBody` (the listing JSON) does not shadow.
typealias HTTPResponseBody = ResponseBody
