/// Why a request matched no route.
public enum RouteError: Error, Sendable, Equatable {
    /// No endpoint has this path. distribution answers such paths with a plain
    /// 404 and no error body, and so do we.
    case notFound
    /// The path names an endpoint that does not take this method.
    case methodNotAllowed(allowed: [String])
    /// The path names an endpoint but a part of it is invalid (name, digest,
    /// reference, upload id, query).
    case invalid(RegistryError)

    public var status: Int {
        switch self {
        case .notFound: 404
        case .methodNotAllowed: 405
        case .invalid(let error): error.status
        }
    }

    /// The error body to send, if any.
    public var registryError: RegistryError? {
        switch self {
        case .notFound: nil
        case .methodNotAllowed: RegistryError(.unsupported)
        case .invalid(let error): error
        }
    }
}
