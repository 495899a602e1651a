import Hummingbird
import RegistryCore
import RegistryStorage

/// `GET`, `HEAD`, `PUT` and `DELETE /v2/<name>/manifests/<reference>`.
extension RegistryResponder {
    /// The manifest's exact bytes with its media type and digest.
    func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> Response {
        let repository = store.repository(name)
        let stored = try await pool.run { () throws(StorageError) in try repository.manifest(reference) }
        var headers = HTTPFields()
        headers[.dockerContentDigest] = stored.digest.description
        headers[.eTag] = "\"\(stored.digest)\""
        // Content this registry cannot parse (a schema 1 manifest left by
        // docker-registry) is served without a type rather than a wrong one.
        if let mediaType = stored.mediaType { headers[.contentType] = mediaType }
        return Response(status: .ok, headers: headers, body: HTTPResponseBody(byteBuffer: ByteBuffer(bytes: stored.bytes)))
    }

    /// Stores a manifest by tag or digest: 201 with its `Location`,
    /// `OCI-Subject` when it has a subject (the spec's sign that this
    /// registry indexed it for the referrers API), and one `OCI-Tag` for each
    /// tag of a `?tag=` query, all of which were stored.
    func putManifest(_ name: RepositoryName, _ reference: Reference, tags: [Tag], _ request: Request) async throws -> Response {
        guard let bytes = try await Self.collect(request.body, upTo: Manifest.sizeMaximum) else {
            // The spec's answer to a manifest over the registry's limit.
            let error = RegistryError(
                .sizeInvalid, message: "manifest larger than \(Manifest.sizeMaximum) bytes", status: 413)
            return Response.registryError(error)
        }
        let repository = store.repository(name)
        let contentType = request.headers[.contentType]
        let stored = try await pool.run { () throws(StorageError) in
            try repository.putManifest(bytes, contentType: contentType, reference: reference, tags: tags)
        }
        var headers = HTTPFields()
        headers[.location] = "/v2/\(name)/manifests/\(stored.digest)"
        headers[.dockerContentDigest] = stored.digest.description
        if let subject = stored.manifest?.subject { headers[.ociSubject] = subject.digest.description }
        for tag in tags { headers.append(HTTPFields.Element(name: .ociTag, value: tag.value)) }
        return Response.empty(.created, headers: headers)
    }

    /// A digest deletes the manifest and every tag on it; a tag deletes only
    /// the tag (the spec allows both). 202 either way.
    func deleteManifest(_ name: RepositoryName, _ reference: Reference) async throws -> Response {
        let repository = store.repository(name)
        try await pool.run { () throws(StorageError) in
            switch reference {
            case .digest(let digest): try repository.deleteManifest(digest)
            case .tag(let tag): try repository.deleteTag(tag)
            }
        }
        return Response.empty(.accepted)
    }

    /// The whole body when it is at most `limit` bytes; nil past that (the
    /// rest is left for the server to drain). Only manifests are collected.
    static func collect(_ body: RequestBody, upTo limit: Int) async throws -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunks = body.makeAsyncIterator()
        while true {
            guard let chunk = try await BodyError.next(&chunks) else { return bytes }
            guard chunk.readableBytes <= limit - bytes.count else { return nil }
            bytes += chunk.readableBytesView
        }
    }
}
