import Hummingbird
import NIOCore
import Synchronization

/// A byte range of a blob that the connection itself sends with
/// `sendfile(2)`, so the bytes never pass through user space.
///
/// Hummingbird's response body writer takes only `ByteBuffer`s, so a body
/// cannot carry a file. Instead the responder hands this object to the
/// connection's `FileRegionHandler` (a user outbound event, awaited, so it
/// is there before the response head), marks the response head with
/// `Buse-File-Region: <token>`, and answers with a body that writes no bytes
/// but waits for `sent`. The handler strips the header from the head, writes
/// the file region after it and completes `sent` when the region is written.
///
/// Lifecycle, one home: created by `offer` → held by the handler (pending)
/// → either its head arrives and the region is written (`sent` completes
/// with the write's result), or its response is never written (a later
/// marked head, or the connection closing, fails it). The handler completes
/// `sent` exactly once on every path, so a body awaiting it never hangs and
/// NIO never sees a leaked promise. The blob stays open as long as this
/// object lives; the region is written from a duplicate descriptor that the
/// handler closes when the write ends, so a blob deleted or collected in the
/// meantime is still sent whole (an unlinked inode lives while it is open).
final class FileRegionBody: Sendable {
    /// The internal header that marks a head; never sent to the client.
    static let headerName = "Buse-File-Region"
    static let header = HeaderName(headerName)!

    private static let tokens = Atomic<UInt64>(0)

    let token: UInt64
    let blob: OpenBlob
    let offset: UInt64
    let length: UInt64
    /// Succeeds when every byte was handed to the socket; fails when the
    /// write failed or the response was never written.
    let sent: EventLoopPromise<Void>

    private init(blob: OpenBlob, offset: UInt64, length: UInt64, sent: EventLoopPromise<Void>) {
        self.token = Self.tokens.add(1, ordering: .relaxed).newValue
        self.blob = blob
        self.offset = offset
        self.length = length
        self.sent = sent
    }

    /// Hands the range to the connection's `FileRegionHandler`; nil when the
    /// connection has none (TLS, or HummingbirdTesting's in-memory channel):
    /// the caller then streams the blob through buffers.
    static func offer(_ blob: OpenBlob, offset: UInt64, length: UInt64, to connection: any Channel) async -> FileRegionBody? {
        let body = FileRegionBody(blob: blob, offset: offset, length: length, sent: connection.eventLoop.makePromise())
        do {
            try await connection.triggerUserOutboundEvent(body).get()
            return body
        } catch {
            // No handler took it: nobody else will complete the promise.
            body.sent.fail(error)
            return nil
        }
    }

    /// The response body: no bytes of its own, it ends the response once the
    /// handler has written the region, and tells the access log how much.
    var responseBody: HTTPResponseBody {
        HTTPResponseBody(contentLength: Int(length)) { [self] writer in
            try await sent.futureResult.get()
            (writer as? any OutOfBandBodyBytes)?.count(Int(length))
            try await writer.finish(nil)
        }
    }
}

/// A body writer that counts bytes (the access log's): told of the bytes a
/// connection sent itself, outside the writer.
protocol OutOfBandBodyBytes {
    func count(_ length: Int)
}
