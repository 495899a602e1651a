import Hummingbird
import NIOCore
import RegistryCore
import RegistryStorage

/// `GET`, `HEAD` and `DELETE /v2/<name>/blobs/<digest>`.
extension RegistryResponder {
    /// The blob, whole (200), a range of it (206 + `Content-Range`), or 416
    /// with `Content-Range: bytes */<size>` when the range starts past the
    /// end. The body goes from the file to the socket with `sendfile(2)`
    /// where the connection can (`FileRegionBody`), else it is streamed
    /// through buffers (`BlobStream`). A HEAD passes no range and no
    /// connection, and gets these headers without the body.
    func blob(_ name: RepositoryName, _ digest: Digest, range: String?, connection: (any Channel)?) async throws -> Response {
        let repository = store.repository(name)
        let blob = try await pool.run { () throws(StorageError) -> OpenBlob in OpenBlob(try repository.openBlob(digest)) }
        let size = blob.reader.size
        var headers = HTTPFields()
        headers[.dockerContentDigest] = digest.description
        headers[.acceptRanges] = "bytes"
        headers[.eTag] = "\"\(digest)\""
        let answer = ByteRange(header: range, size: size)
        if let contentRange = answer.contentRange(size: size) { headers[.contentRange] = contentRange }
        switch answer {
        case .unsatisfiable:
            return Response.registryError(RegistryError(.rangeInvalid, message: "range not satisfiable", status: 416), headers: headers)
        case .whole:
            headers[.contentType] = "application/octet-stream"
            let body = await blobBody(blob, offset: 0, length: size, connection: connection, headers: &headers)
            return Response(status: .ok, headers: headers, body: body)
        case .partial(let offset, let length):
            headers[.contentType] = "application/octet-stream"
            let body = await blobBody(blob, offset: offset, length: length, connection: connection, headers: &headers)
            return Response(status: .partialContent, headers: headers, body: body)
        }
    }

    /// The bytes of the range: a file region the connection sends itself
    /// (the head then carries the internal mark its handler strips), or a
    /// stream of buffers when the connection cannot or the range is empty.
    private func blobBody(
        _ blob: OpenBlob, offset: UInt64, length: UInt64, connection: (any Channel)?, headers: inout HTTPFields
    ) async -> HTTPResponseBody {
        if sendsFileRegions, length > 0, let connection,
            let region = await FileRegionBody.offer(blob, offset: offset, length: length, to: connection)
        {
            headers[FileRegionBody.header] = String(region.token)
            return region.responseBody
        }
        return BlobStream.body(blob, offset: offset, length: length, pool: pool)
    }

    /// Unlinks the blob from the repository (202); the data stays for
    /// garbage collection, as in distribution.
    func deleteBlob(_ name: RepositoryName, _ digest: Digest) async throws -> Response {
        let repository = store.repository(name)
        try await pool.run { () throws(StorageError) in try repository.unlinkLayer(digest) }
        var headers = HTTPFields()
        headers[.dockerContentDigest] = digest.description
        return Response.empty(.accepted, headers: headers)
    }
}
