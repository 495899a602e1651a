public import Hummingbird
public import Logging
import NIOCore
import RegistryCore
public import RegistryStorage

/// The registry over HTTP: each request is parsed by `Route.parse`, served
/// by storage and answered as the core says. This layer only translates;
/// every rule (names, digests, ranges, upload lifecycle, manifest checks,
/// error codes and statuses) lives in RegistryCore and RegistryStorage.
///
/// Routing is done here rather than by Hummingbird's router: its router
/// drops empty path segments, so `/v2/a//x` would be served as `a/x`
/// instead of being refused. The raw request path goes to `Route.parse`.
///
/// Every storage call blocks (file I/O and fsync), so each runs on `pool`,
/// never on the cooperative pool or an event loop.
public struct RegistryResponder: HTTPResponder {
    public typealias Context = RegistryRequestContext

    let store: RegistryStore
    let pool: BlockingPool
    let logger: Logger
    /// A mount without `from` links any stored blob (see `RegistryStore.mount`).
    let automaticMount: Bool
    /// Blob bodies go out with `sendfile(2)` where the connection has a
    /// `FileRegionHandler` (plain HTTP); off over TLS, which cannot.
    let sendsFileRegions: Bool
    /// Logins and who may push; nil lets every client do everything.
    let authenticator: PasswordAuthenticator?

    public init(
        store: RegistryStore, pool: BlockingPool = .shared, automaticMount: Bool = true, sendsFileRegions: Bool = true,
        authenticator: PasswordAuthenticator? = nil, logger: Logger
    ) {
        self.store = store
        self.pool = pool
        self.automaticMount = automaticMount
        self.sendsFileRegions = sendsFileRegions
        self.authenticator = authenticator
        self.logger = logger
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        var user: String?
        var response: Response
        switch await authenticator?.authenticate(request.headers) {
        case nil:
            response = await answer(request, connection: context.connection, user: nil)
        case .user(let name):
            user = name
            response = await answer(request, connection: context.connection, user: name)
        case .refused:
            // No credentials (a client's first try), or wrong ones. Only the
            // access line records it: neither the header nor the password is logged.
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = AccessPolicy.challenge
            response = Response.registryError(AccessPolicy.unauthorized, headers: headers)
        case .busy:
            logger.notice("\(request.method) \(request.uri.path): too many password checks waiting; answered 429")
            response = Response.registryError(RegistryError(.tooManyRequests, message: "too many logins at once; retry"))
        }
        if request.method == .head {
            // The headers of the GET, its Content-Length included, and no body.
            response = Response(status: response.status, headers: response.headers, body: HTTPResponseBody())
        }
        return AccessLog(logger: logger, request: request, user: user, started: started).logged(response)
    }

    /// The answer to one request; never throws: every failure has a response.
    /// `user` is who authenticated, when the registry has logins.
    func answer(_ request: Request, connection: any Channel, user: String?) async -> Response {
        let target = request.uri.query.map { request.uri.path + "?" + $0 } ?? request.uri.path
        let route: Route
        do throws(RouteError) {
            route = try Route.parse(method: request.method.rawValue, target: target)
        } catch {
            return Response.routeError(error)
        }
        if let user, let policy = authenticator?.policy, let denial = policy.denial(of: route.access, to: user) {
            logger.notice("\(request.method) \(request.uri.path): \(denial.message)")
            return Response.registryError(denial)
        }
        do {
            return try await serve(route, request, connection: connection)
        } catch let error as StorageError {
            return storageFailure(error, request)
        } catch let error as RegistryError {
            return Response.registryError(error)
        } catch let error as BodyError {
            logger.notice("\(request.method) \(request.uri.path): request body unreadable: \(error.underlying)")
            return Response.registryError(RegistryError(.blobUploadInvalid, message: "the request body could not be read"))
        } catch {
            logger.error("\(request.method) \(request.uri.path): unexpected failure: \(error)")
            return Response(status: .internalServerError)
        }
    }

    private func serve(_ route: Route, _ request: Request, connection: any Channel) async throws -> Response {
        switch route {
        case .base:
            var headers = HTTPFields()
            headers[.dockerDistributionAPIVersion] = "registry/2.0"
            return Response.json("{}", headers: headers)
        case .catalog(let page): return try await catalog(page)
        case .listTags(let name, let page): return try await tags(name, page)
        case .getBlob(let name, let digest):
            return try await blob(name, digest, range: request.headers[.range], connection: connection)
        case .headBlob(let name, let digest): return try await blob(name, digest, range: nil, connection: nil)
        case .deleteBlob(let name, let digest): return try await deleteBlob(name, digest)
        case .startUpload(let name, let start): return try await startUpload(name, start, request)
        case .getUpload(let name, let id): return try await uploadStatus(name, id)
        case .patchUpload(let name, let id): return try await patchUpload(name, id, request)
        case .finishUpload(let name, let id, let digest): return try await finishUpload(name, id, digest, request)
        case .cancelUpload(let name, let id): return try await cancelUpload(name, id)
        case .getManifest(let name, let reference): return try await manifest(name, reference)
        case .headManifest(let name, let reference): return try await manifest(name, reference)
        case .putManifest(let name, let reference, let tags): return try await putManifest(name, reference, tags: tags, request)
        case .deleteManifest(let name, let reference): return try await deleteManifest(name, reference)
        case .listReferrers(let name, let subject, let artifactType): return try await referrers(name, subject, artifactType)
        }
    }

    /// A client-caused storage error is the core's error; anything else is an
    /// operating failure: logged with its cause, answered 500 without detail.
    private func storageFailure(_ error: StorageError, _ request: Request) -> Response {
        if let registryError = error.registryError { return Response.registryError(registryError) }
        logger.error("\(request.method) \(request.uri.path): storage failed: \(error)")
        // The spec has no code for a server fault (distribution's UNKNOWN is
        // not in it): a bare 500, the cause stays in our log.
        return Response(status: .internalServerError)
    }
}
