/// What a request needs: reading the registry, or changing it.
public enum Access: Sendable, Equatable {
    /// GET and HEAD of the base, listings, blobs and manifests.
    case pull
    /// Uploads (their status included), manifest PUT, every DELETE.
    case push
}

extension Route {
    /// The access this endpoint needs; an upload session's status is part
    /// of a push, as in distribution's scopes.
    public var access: Access {
        switch self {
        case .base, .catalog, .listTags, .getBlob, .headBlob, .getManifest, .headManifest, .listReferrers: .pull
        case .deleteBlob, .startUpload, .getUpload, .patchUpload, .finishUpload, .cancelUpload, .putManifest, .deleteManifest:
            .push
        }
    }
}

/// Who may do what, once a user is known: every user of the htpasswd file
/// pulls; those named read-only do not push. Anonymous clients are
/// answered 401 before a route is looked at, so they learn nothing of it.
public struct AccessPolicy: Sendable, Equatable {
    /// The realm of the `WWW-Authenticate` challenge.
    public static let realm = "buse"

    public let users: Htpasswd
    public let readOnlyUsers: Set<String>

    /// Fails when a read-only user is not in the file: a typo there would
    /// otherwise leave nobody restricted.
    public init(users: Htpasswd, readOnlyUsers: Set<String> = []) throws(AccessPolicyError) {
        let unknown = readOnlyUsers.subtracting(users.hashes.keys)
        guard unknown.isEmpty else { throw .unknownReadOnlyUsers(unknown.sorted()) }
        self.users = users
        self.readOnlyUsers = readOnlyUsers
    }

    /// The challenge sent with every 401: what skopeo, podman and docker
    /// look for before they retry with the user's credentials.
    public static var challenge: String { #"Basic realm="\#(realm)""# }

    /// The error for an unauthenticated request (no, malformed or wrong credentials).
    public static var unauthorized: RegistryError { RegistryError(.unauthorized) }

    /// Nil when `user` (already authenticated) may do `access`; else the 403 to send.
    public func denial(of access: Access, to user: String) -> RegistryError? {
        guard access == .push, readOnlyUsers.contains(user) else { return nil }
        return RegistryError(.denied, message: "user \(user) may pull but not push")
    }
}

public enum AccessPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownReadOnlyUsers([String])

    public var description: String {
        switch self {
        case .unknownReadOnlyUsers(let users): "read-only users not in the htpasswd file: \(users.joined(separator: ", "))"
        }
    }
}
