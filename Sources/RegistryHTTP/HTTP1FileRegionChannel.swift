import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 channel with a `FileRegionHandler` inserted just
/// before its HTTPTypes-to-HTTP/1 codec, where response bodies are `IOData`.
///
/// Hummingbird's `additionalChannelHandlers` go after that codec, on the
/// HTTPTypes side, where a body can only be a `ByteBuffer`: so the handler
/// is placed here, once Hummingbird has built its pipeline. Not used with
/// TLS: NIOSSL encrypts in user space and cannot write a file region.
struct HTTP1FileRegionChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let codec = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
            try pipeline.addHandler(FileRegionHandler(), position: .before(codec))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
