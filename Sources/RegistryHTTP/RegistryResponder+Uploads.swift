import Glibc
import Hummingbird
import RegistryCore
import RegistryStorage

/// The upload endpoints. Each request rebuilds the `UploadSession` from the
/// size storage reports, feeds it the request's event and carries out its
/// actions; the session, not this file, decides every answer.
extension RegistryResponder {
    /// `POST /v2/<name>/blobs/uploads/`: a session (202), a monolithic
    /// upload (`?digest=`, 201), or a mount (`?mount=&from=`, 201 when the
    /// source has the blob, else a session as the spec says).
    func startUpload(_ name: RepositoryName, _ start: UploadStart, _ request: Request) async throws -> Response {
        switch start {
        case .session:
            return try await openSession(name)
        case .monolithic(let digest):
            return try await monolithicUpload(name, digest, request)
        case .mount(let digest, let source):
            let store = store
            let automatic = automaticMount
            let mounted = try await pool.run { () throws(StorageError) in
                try store.mount(digest, from: source, into: name, automatic: automatic)
            }
            return mounted ? Self.created(name, digest) : try await openSession(name)
        }
    }

    /// `GET` on a session: 204 with the `Range` received so far.
    func uploadStatus(_ name: RepositoryName, _ id: UploadID) async throws -> Response {
        let uploads = store.uploads
        var session = UploadSession(size: try await pool.run { () throws(StorageError) in try uploads.size(name, id) })
        guard case .reportProgress(let range) = session.event(.status) else { preconditionFailure("status has one answer") }
        var headers = Self.sessionHeaders(name, id)
        headers[.range] = range
        return Response.empty(.noContent, headers: headers)
    }

    /// `PATCH`: one chunk (with `Content-Range`) or a stream (without), 202.
    func patchUpload(_ name: RepositoryName, _ id: UploadID, _ request: Request) async throws -> Response {
        let event = UploadSession.Event.chunk(contentRange: request.headers[.contentRange], contentLength: Self.contentLength(request))
        return try await drive(name, id, event, request)
    }

    /// `PUT ?digest=`: an optional last chunk, then the commit, 201.
    func finishUpload(_ name: RepositoryName, _ id: UploadID, _ digest: Digest, _ request: Request) async throws -> Response {
        // Only a client's PUT can be a retry; a monolithic POST made its session just now.
        if try await isCommittedRetry(name, id, digest) { return Self.created(name, digest) }
        let event = UploadSession.Event.finish(
            digest, contentRange: request.headers[.contentRange], contentLength: Self.contentLength(request))
        return try await drive(name, id, event, request)
    }

    /// `DELETE` on a session: removed, 204.
    func cancelUpload(_ name: RepositoryName, _ id: UploadID) async throws -> Response {
        let uploads = store.uploads
        var session = UploadSession(size: try await pool.run { () throws(StorageError) in try uploads.size(name, id) })
        guard case .remove = session.event(.cancel) else { preconditionFailure("cancel has one answer") }
        try await pool.run { () throws(StorageError) in try uploads.cancel(name, id) }
        return Response.empty(.noContent)
    }

    private func openSession(_ name: RepositoryName) async throws -> Response {
        let uploads = store.uploads
        let id = try await pool.run { () throws(StorageError) in try uploads.start(name, now: Int64(time(nil))) }
        var headers = Self.sessionHeaders(name, id)
        headers[.range] = UploadRange.rangeHeader(size: 0)
        return Response.empty(.accepted, headers: headers)
    }

    /// A whole blob in the POST: a session that lives for this request only.
    private func monolithicUpload(_ name: RepositoryName, _ digest: Digest, _ request: Request) async throws -> Response {
        let uploads = store.uploads
        let id = try await pool.run { () throws(StorageError) in try uploads.start(name, now: Int64(time(nil))) }
        let event = UploadSession.Event.finish(digest, contentRange: nil, contentLength: Self.contentLength(request))
        let response: Response
        do {
            response = try await drive(name, id, event, request)
        } catch {
            // Already gone after a digest mismatch; otherwise nobody else knows its id.
            try? await pool.run { () throws(StorageError) in try uploads.cancel(name, id) }
            throw error
        }
        if response.status != .created { try? await pool.run { () throws(StorageError) in try uploads.cancel(name, id) } }
        return response
    }
}
