import Hummingbird
import RegistryCore

/// Building responses the way the registry answers.
extension Response {
    /// A JSON body with its `Content-Type` and `Content-Length`.
    static func json(
        _ text: String, status: HTTPResponse.Status = .ok, contentType: String = "application/json", headers: HTTPFields = [:]
    ) -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: HTTPResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// The core's error body with its status.
    static func registryError(_ error: RegistryError, headers: HTTPFields = [:]) -> Response {
        json(error.jsonBody, status: HTTPResponse.Status(code: error.status), headers: headers)
    }

    /// A request that matched no route: a plain 404 as distribution sends, a
    /// 405 naming the methods the path takes, or the core's error.
    static func routeError(_ error: RouteError) -> Response {
        var headers = HTTPFields()
        if case .methodNotAllowed(let allowed) = error { headers[.allow] = allowed.joined(separator: ", ") }
        guard let registryError = error.registryError else {
            return Response(status: HTTPResponse.Status(code: error.status), headers: headers)
        }
        var answered = registryError
        answered.status = error.status
        return Response.registryError(answered, headers: headers)
    }

    /// An empty answer with the given headers (`Content-Length: 0`).
    static func empty(_ status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        Response(status: status, headers: headers, body: HTTPResponseBody())
    }
}
