/// The lifecycle of one blob upload session, as the HTTP layer drives it.
///
/// A session is created by `POST /v2/<name>/blobs/uploads/` and lives in
/// storage; each later request rebuilds this value from the size storage
/// reports and feeds it that request's events:
///
/// - `GET` asks for progress: the answer is the `Range` received so far.
/// - `PATCH` brings a chunk. Its `Content-Range`, when sent, must start
///   exactly at the current size (else 416); without one the body is a
///   stream appended at the current size. The body is appended by storage,
///   and only once storage reports it written (and synced) is the chunk
///   acknowledged with 202 and the new `Range`.
/// - `PUT ?digest=` may bring a last chunk the same way; then the upload is
///   committed under the digest, which storage verifies, and the answer is
///   201 with the blob's location.
/// - `DELETE` cancels: storage removes the session.
///
/// After commit or cancel the session is gone; any further request is
/// `BLOB_UPLOAD_UNKNOWN`. Events that the HTTP layer sends out of order
/// (`appended` with nothing being appended, `committed` before a commit)
/// are our own bugs and trap.
public struct UploadSession: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Waiting for a request; `size` bytes are stored.
        case receiving(size: UInt64)
        /// Storage is appending a body that should be `length` bytes (nil for
        /// a stream); `then` is the digest to commit afterwards, for a PUT.
        case appending(size: UInt64, length: UInt64?, then: Digest?)
        /// Storage is verifying and committing the upload.
        case committing(Digest)
        case finished(Digest)
        case cancelled
    }

    public enum Event: Sendable, Equatable {
        /// `GET`
        case status
        /// `PATCH`, before its body is read.
        case chunk(contentRange: String?, contentLength: UInt64?)
        /// `PUT ?digest=`, before its (possibly empty) body is read.
        case finish(Digest, contentRange: String?, contentLength: UInt64?)
        /// `DELETE`
        case cancel
        /// Storage wrote (and synced) `length` bytes of the body.
        case appended(length: UInt64)
        /// Storage verified the digest and committed the blob.
        case committed
    }

    public enum Action: Sendable, Equatable {
        /// Answer 204 with `Range: <range>`.
        case reportProgress(range: String)
        /// Stream the body to storage at `offset`; it should be `length` bytes.
        case append(offset: UInt64, length: UInt64?)
        /// Answer 202 with `Range: <range>`.
        case acknowledge(range: String)
        /// Ask storage to verify and commit under the digest.
        case commit(Digest)
        /// Answer 201: the blob exists under the digest.
        case created(Digest)
        /// Ask storage to remove the session, then answer 204.
        case remove
        /// Answer with this error; the session is unchanged.
        case reject(RegistryError)
    }

    public private(set) var state: State

    /// A session as storage reports it: `size` bytes received so far.
    public init(size: UInt64) {
        state = .receiving(size: size)
    }

    public mutating func event(_ event: Event) -> Action {
        switch (state, event) {
        case (.receiving(let size), .status):
            return .reportProgress(range: UploadRange.rangeHeader(size: size))
        case (.receiving(let size), .chunk(let contentRange, let contentLength)):
            return startAppending(size: size, contentRange: contentRange, contentLength: contentLength, then: nil)
        case (.receiving(let size), .finish(let digest, let contentRange, let contentLength)):
            // Only a body announced as empty is skipped; without a length
            // (chunked transfer coding) there may be one to append.
            guard contentRange != nil || contentLength != 0 else {
                state = .committing(digest)
                return .commit(digest)
            }
            return startAppending(size: size, contentRange: contentRange, contentLength: contentLength, then: digest)
        case (.receiving, .cancel):
            state = .cancelled
            return .remove
        case (.appending(let size, let length, let then), .appended(let written)):
            return finishAppending(size: size + written, lengthMatches: length == nil || length == written, then: then)
        case (.committing(let digest), .committed):
            state = .finished(digest)
            return .created(digest)
        case (.finished, .status), (.finished, .chunk), (.finished, .finish), (.finished, .cancel),
            (.cancelled, .status), (.cancelled, .chunk), (.cancelled, .finish), (.cancelled, .cancel):
            return .reject(RegistryError(.blobUploadUnknown))
        default:
            preconditionFailure("upload session: event \(event) in state \(state)")
        }
    }

    private mutating func startAppending(size: UInt64, contentRange: String?, contentLength: UInt64?, then: Digest?) -> Action {
        var length = contentLength
        if let contentRange {
            do throws(RegistryError) {
                length = try UploadRange(header: contentRange, currentSize: size, contentLength: contentLength).length
            } catch {
                return .reject(error)
            }
        }
        state = .appending(size: size, length: length, then: then)
        return .append(offset: size, length: length)
    }

    /// A body shorter or longer than announced was still written (storage's
    /// file size is the truth), but the request fails with `SIZE_INVALID`.
    private mutating func finishAppending(size: UInt64, lengthMatches: Bool, then: Digest?) -> Action {
        guard lengthMatches else {
            state = .receiving(size: size)
            return .reject(RegistryError(.sizeInvalid))
        }
        guard let digest = then else {
            state = .receiving(size: size)
            return .acknowledge(range: UploadRange.rangeHeader(size: size))
        }
        state = .committing(digest)
        return .commit(digest)
    }
}
