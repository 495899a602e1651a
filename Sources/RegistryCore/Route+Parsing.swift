/// Parsing a request into a `Route`.
///
/// The raw request target is parsed here, not by a router: names contain
/// `/`, so the endpoint is recognised from the end of the path and the rest
/// is the name. The name's segments are never percent-decoded or
/// normalised: an empty segment, as in `/v2/a//x`, is rejected rather than
/// merged, and `a%2Fb` is not the name `a/b` (Go's router would decode it;
/// refusing is the conservative difference). Only the last segment (digest,
/// reference or upload id) is percent-decoded, so `sha256%3A…` works as it
/// does with distribution; whatever it decodes to must still validate.
extension Route {
    public static func parse(method: String, target: String) throws(RouteError) -> Route {
        let pathEnd = target.utf8.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex
        let path = target[..<pathEnd]
        let query = Query(parsing: pathEnd < target.endIndex ? target[target.index(after: pathEnd)...] : "")
        guard path.hasPrefix("/v2") else { throw .notFound }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" {
            try require(method, in: ["GET", "HEAD"])
            return .base
        }
        guard rest.hasPrefix("/") else { throw .notFound }
        var segments = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if segments == ["_catalog"] {
            try require(method, in: ["GET"])
            return .catalog(try pageRequest(query))
        }
        // `blobs/uploads/` is the one endpoint spelled with a trailing slash;
        // take it without the slash as well.
        if segments.count >= 3, segments.suffix(3).elementsEqual(["blobs", "uploads", ""]) {
            segments.removeLast()
        }
        guard !segments.contains(where: \.isEmpty) else { throw .notFound }
        return try parseRepositoryRoute(method: method, segments: segments, query: query)
    }

    /// Routes under `/v2/<name>/`, recognised by their last segments.
    private static func parseRepositoryRoute(method: String, segments: [Substring], query: Query) throws(RouteError) -> Route {
        let count = segments.count
        func tail(_ length: Int) -> ArraySlice<Substring> { count > length ? segments[(count - length)...] : [] }
        func name(droppingLast length: Int) throws(RouteError) -> RepositoryName {
            try repositoryName(segments[..<(count - length)].joined(separator: "/"))
        }
        let last = count > 0 ? Query.percentDecoded(segments[count - 1], plusIsSpace: false) ?? "" : ""
        if tail(2) == ["tags", "list"] {
            try require(method, in: ["GET"])
            return .listTags(try name(droppingLast: 2), try pageRequest(query))
        }
        if tail(2).first == "manifests" {
            return try manifestRoute(method: method, name: try name(droppingLast: 2), reference: last, query: query)
        }
        if tail(2).first == "blobs", last.utf8.contains(UInt8(ascii: ":")) {
            return try blobRoute(method: method, name: try name(droppingLast: 2), digest: last)
        }
        if tail(2) == ["blobs", "uploads"] {
            try require(method, in: ["POST"])
            return .startUpload(try name(droppingLast: 2), try uploadStart(query))
        }
        if tail(3).prefix(2) == ["blobs", "uploads"] {
            return try uploadRoute(method: method, name: try name(droppingLast: 3), id: last, query: query)
        }
        if tail(2).first == "referrers" {
            try require(method, in: ["GET"])
            let artifactType = query["artifactType"].flatMap { $0.isEmpty ? nil : $0 }
            return .listReferrers(try name(droppingLast: 2), try digest(last), artifactType: artifactType)
        }
        throw .notFound
    }

    private static func manifestRoute(
        method: String, name: RepositoryName, reference text: String, query: Query
    ) throws(RouteError) -> Route {
        try require(method, in: ["GET", "HEAD", "PUT", "DELETE"])
        let reference: Reference
        do throws(RegistryError) {
            reference = try Reference(parsing: text)
        } catch {
            // Reading or deleting something that cannot exist is "unknown";
            // only a PUT is told its reference is invalid.
            guard method == "PUT" || error.code != .manifestInvalid else {
                throw .invalid(RegistryError(.manifestUnknown, detail: error.detail))
            }
            throw .invalid(error)
        }
        switch method {
        case "GET": return .getManifest(name, reference)
        case "HEAD": return .headManifest(name, reference)
        case "PUT": return .putManifest(name, reference, tags: try manifestTags(query, reference: reference))
        default: return .deleteManifest(name, reference)
        }
    }

    /// The `tag` query parameters of a manifest PUT. The spec defines them
    /// only for a PUT by digest; on a PUT by tag they are ignored, as
    /// distribution ignores them everywhere, and the client learns that from
    /// the missing `OCI-Tag` header.
    private static func manifestTags(_ query: Query, reference: Reference) throws(RouteError) -> [Tag] {
        guard case .digest = reference else { return [] }
        do throws(RegistryError) { return try Tag.list(query.values("tag")) } catch { throw .invalid(error) }
    }

    private static func blobRoute(method: String, name: RepositoryName, digest text: String) throws(RouteError) -> Route {
        try require(method, in: ["GET", "HEAD", "DELETE"])
        let digest = try digest(text)
        switch method {
        case "GET": return .getBlob(name, digest)
        case "HEAD": return .headBlob(name, digest)
        default: return .deleteBlob(name, digest)
        }
    }

    private static func uploadRoute(method: String, name: RepositoryName, id text: String, query: Query) throws(RouteError) -> Route {
        try require(method, in: ["GET", "PATCH", "PUT", "DELETE"])
        let id: UploadID
        do throws(RegistryError) { id = try UploadID(validating: text) } catch { throw .invalid(error) }
        switch method {
        case "GET": return .getUpload(name, id)
        case "PATCH": return .patchUpload(name, id)
        case "PUT":
            guard let digestText = query["digest"] else {
                throw .invalid(RegistryError(.digestInvalid, message: "digest query parameter is required"))
            }
            return .finishUpload(name, id, try digest(digestText))
        default: return .cancelUpload(name, id)
        }
    }

    /// A mount whose digest or `from` is invalid is not an error: the spec
    /// (and distribution) fall back to the upload the POST would otherwise
    /// start, 202 with a session.
    private static func uploadStart(_ query: Query) throws(RouteError) -> UploadStart {
        if let mount = query["mount"].flatMap({ try? Digest(parsing: $0) }) {
            switch query["from"].map({ try? RepositoryName(validating: $0) }) {
            case .none: return .mount(mount, from: nil)
            case .some(.some(let from)): return .mount(mount, from: from)
            case .some(.none): break
            }
        }
        if let digestText = query["digest"] { return .monolithic(try digest(digestText)) }
        return .session
    }

    private static func require(_ method: String, in allowed: [String]) throws(RouteError) {
        guard allowed.contains(method) else { throw .methodNotAllowed(allowed: allowed) }
    }

    /// A name in the path that fails validation is answered 404 (distribution's
    /// router would not match it either) but with the `NAME_INVALID` code, so a
    /// client learns why.
    private static func repositoryName(_ text: String, status: Int = 404) throws(RouteError) -> RepositoryName {
        do throws(RegistryError) {
            return try RepositoryName(validating: text)
        } catch {
            var error = error
            error.status = status
            throw .invalid(error)
        }
    }

    private static func digest(_ text: String) throws(RouteError) -> Digest {
        do throws(DigestError) { return try Digest(parsing: text) } catch { throw .invalid(error.registryError) }
    }

    private static func pageRequest(_ query: Query) throws(RouteError) -> PageRequest {
        do throws(RegistryError) {
            return try PageRequest(n: query["n"], last: query["last"])
        } catch {
            throw .invalid(error)
        }
    }
}
