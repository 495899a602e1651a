import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request
/// head arrives, as Go's net/http does once a handler reads the body.
///
/// curl sends the header with every upload over 1 MiB and then waits up to a
/// second for the interim response before sending the body: without it a
/// 256 MiB blob PUT spent a second of its 2.6 s idle. Hummingbird does not
/// send it, so this handler sits between its HTTP/1 codec and the request
/// handling. A request that is then refused (404, 416) still gets its final
/// status; the client has sent the body by then and the connection drains it,
/// as without the header.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data), let expect = request.headerFields[.expect],
            expect.lowercased() == "100-continue"
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
