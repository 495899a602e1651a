import NIOCore
import NIOHTTP1

/// Writes the bodies of marked blob responses as NIO `FileRegion`s, which
/// NIO sends with `sendfile(2)`: the kernel moves the bytes from the page
/// cache to the socket, with no read into a buffer and no copy back out.
///
/// It sits on the HTTP/1 side of the pipeline, between NIOHTTP1's response
/// encoder and Hummingbird's HTTPTypes-to-HTTP/1 codec, because only there is
/// a body part `IOData`, which can be a file region (`HTTP1FileRegionChannel`
/// puts it there). Outbound, from Hummingbird towards the socket:
///
///     HTTPConnectionStateHandler → ExpectContinueHandler (inbound only)
///     → HTTP1ToHTTPServerCodec → FileRegionHandler → HTTPResponseEncoder → socket
///
/// `FileRegionBody` describes the protocol between the responder and this
/// handler. Every other part passes through untouched.
final class FileRegionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    /// Inbound, only the connection's end matters; requests pass through.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Offered bodies whose heads have not arrived yet. HTTP/1 answers one
    /// request at a time, so this holds one, or a few whose responses were
    /// dropped before their heads were written.
    private var pending: [UInt64: FileRegionBody] = [:]

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let body = event as? FileRegionBody else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        pending[body.token] = body
        promise?.succeed(())
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = unwrapOutboundIn(data), let mark = head.headers.first(name: FileRegionBody.headerName) else {
            context.write(data, promise: promise)
            return
        }
        head.headers.remove(name: FileRegionBody.headerName)
        guard let token = UInt64(mark), let body = pending.removeValue(forKey: token) else {
            // Its body was failed when the connection closed under it: this
            // head cannot be answered with the bytes it promises.
            promise?.fail(ChannelError.ioOnClosedChannel)
            context.close(promise: nil)
            return
        }
        // Offered before this one, so their responses will never be written.
        for stale in pending.values where stale.token < token {
            pending[stale.token] = nil
            stale.sent.fail(ChannelError.ioOnClosedChannel)
        }
        context.write(wrapOutboundOut(.head(head)), promise: promise)
        let descriptor: Int32
        do {
            descriptor = try body.blob.reader.duplicateDescriptor()
        } catch {
            // Out of descriptors: the head is out, so the connection must close.
            body.sent.fail(error)
            context.close(promise: nil)
            return
        }
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        let region = FileRegion(fileHandle: file, readerIndex: Int(body.offset), endIndex: Int(body.offset + body.length))
        let written = context.eventLoop.makePromise(of: Void.self)
        // NIO completes a write's promise on success, on failure and when the
        // channel closes with the write still queued: the descriptor closes
        // in every case, and only once the kernel no longer reads it.
        written.futureResult.whenComplete { result in
            try? file.close()
            body.sent.completeWith(result)
        }
        context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: written)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failPending()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failPending()
    }

    private func failPending() {
        let bodies = pending.values
        pending = [:]
        for body in bodies { body.sent.fail(ChannelError.ioOnClosedChannel) }
    }
}
