import Hummingbird
import RegistryCore
import RegistryStorage

/// Carrying out an `UploadSession`'s actions for a PATCH or PUT.
extension RegistryResponder {
    /// Opens the session (holding its lock for this request), feeds it
    /// `event` and does what it says until it has an answer.
    func drive(_ name: RepositoryName, _ id: UploadID, _ event: UploadSession.Event, _ request: Request) async throws -> Response {
        let store = store
        let handle = try await pool.run { () throws(StorageError) in try UploadHandle(store, name, id) }
        var session = UploadSession(size: handle.openedSize)
        var action = session.event(event)
        while true {
            switch action {
            case .append:
                let written = try await appendBody(request.body, to: handle)
                action = session.event(.appended(length: written))
            case .commit(let digest):
                _ = try await pool.run { () throws(StorageError) in try handle.commit(as: digest) }
                action = session.event(.committed)
            case .acknowledge(let range):
                try await pool.run { () throws(StorageError) in try handle.suspend() }
                var headers = Self.sessionHeaders(name, id)
                headers[.range] = range
                return Response.empty(.accepted, headers: headers)
            case .created(let digest):
                return Self.created(name, digest)
            case .reject(let error):
                // Whatever was written is the upload's now: make it durable
                // and keep its hash, then tell the client where it stands.
                try await pool.run { () throws(StorageError) in try handle.suspend() }
                var headers = Self.sessionHeaders(name, id)
                if error.code == .rangeInvalid, case .receiving(let size) = session.state {
                    headers[.range] = UploadRange.rangeHeader(size: size)
                }
                return Response.registryError(error, headers: headers)
            case .reportProgress, .remove:
                preconditionFailure("upload session answered \(action) to \(event)")
            }
        }
    }

    /// Whether a final PUT is one retried after its answer was lost (a
    /// timeout, a failover): the commit it repeats removed the session, and
    /// the blob is in this repository. It is answered as the first PUT was.
    func isCommittedRetry(_ name: RepositoryName, _ id: UploadID, _ digest: Digest) async throws -> Bool {
        let store = store
        return try await pool.run { () throws(StorageError) -> Bool in
            do throws(StorageError) {
                _ = try store.uploads.size(name, id)
                return false
            } catch {
                guard case .uploadUnknown = error else { throw error }
                return try store.repository(name).blobSize(digest) != nil
            }
        }
    }

    /// Streams the request body into the upload, one chunk at a time as it
    /// arrives; nothing is collected. Returns the bytes written.
    private func appendBody(_ body: RequestBody, to handle: UploadHandle) async throws -> UInt64 {
        var written: UInt64 = 0
        var chunks = body.makeAsyncIterator()
        // The connection hands over small buffers (tens of KiB): gathered to
        // about a MiB per trip to the blocking pool, not one trip each.
        var batch: [ByteBuffer] = []
        var batched = 0
        while true {
            let chunk = try await BodyError.next(&chunks)
            if let chunk {
                batch.append(chunk)
                batched += chunk.readableBytes
            }
            if (chunk == nil && !batch.isEmpty) || batched >= Self.appendBatchLength {
                let full = batch
                try await pool.run { () throws(StorageError) in try handle.append(full) }
                written += UInt64(batched)
                batch.removeAll(keepingCapacity: true)
                batched = 0
            }
            if chunk == nil { return written }
        }
    }

    /// Bytes of a request body written per trip to the blocking pool.
    static let appendBatchLength = 1 << 20

    /// `Location` and `Docker-Upload-UUID` of a session.
    static func sessionHeaders(_ name: RepositoryName, _ id: UploadID) -> HTTPFields {
        var headers = HTTPFields()
        headers[.location] = "/v2/\(name)/blobs/uploads/\(id)"
        headers[.dockerUploadUUID] = id.value
        return headers
    }

    /// 201 for a blob that now exists in the repository.
    static func created(_ name: RepositoryName, _ digest: Digest) -> Response {
        var headers = HTTPFields()
        headers[.location] = "/v2/\(name)/blobs/\(digest)"
        headers[.dockerContentDigest] = digest.description
        return Response.empty(.created, headers: headers)
    }

    static func contentLength(_ request: Request) -> UInt64? {
        request.headers[.contentLength].flatMap { UInt64($0) }
    }
}

/// Reading the request body failed (the client went away mid-upload, or
/// sent a malformed chunked body): the client's doing, not storage's.
struct BodyError: Error {
    let underlying: any Error

    /// The body's next chunk, nil at its end; a failure to read it (the
    /// client went away mid-body) becomes a `BodyError`.
    static func next(_ chunks: inout RequestBody.AsyncIterator) async throws -> ByteBuffer? {
        do {
            return try await chunks.next()
        } catch {
            throw BodyError(underlying: error)
        }
    }
}
