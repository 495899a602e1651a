import Foundation
import Hummingbird
import HummingbirdTesting
import RegistryCore
import Testing

@testable import RegistryHTTP

/// Logins from an htpasswd file: 401 with the Basic challenge without or
/// with wrong credentials, pulls for every user, 403 DENIED for a pull-only
/// user's push, and no credential in the log.
@Suite struct AccessTests {
    /// Made with Debian's `htpasswd -nbB` (Apache writes bcrypt as `$2y$`).
    static let htpasswd = """
        alice:$2y$05$h/JGLk7lSxPjWRbC9YEBOuzn08DYVeIpwTPs0NkqpmARww1lFggUi
        ci:$2y$05$4BELuijv6jWMKYrdKxmHsu9kAmG00TlOKcPfbtnRSDYjGZjoH56qC
        """
    static let alice = basic("alice", "correct horse")
    static let ci = basic("ci", "pull only")

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    static func registry(logger: LogCapture? = nil) throws -> TestRegistry {
        let policy = try AccessPolicy(users: Htpasswd(parsing: htpasswd), readOnlyUsers: ["ci"])
        return try TestRegistry(logger: logger?.logger, access: policy)
    }

    @Test func noOrWrongCredentialsGet401WithTheBasicChallenge() async throws {
        try await Self.registry().test { client in
            let refusals: [HTTPFields] = [
                [:], [.authorization: Self.basic("alice", "wrong")], [.authorization: Self.basic("mallory", "correct horse")],
                [.authorization: "Basic !!!not-base64"], [.authorization: "Bearer abc"], [.authorization: Self.basic("alice", "")],
            ]
            for headers in refusals {
                for path in ["/v2/", "/v2/team/app/tags/list", "/v2/team/app/blobs/uploads/"] {
                    let answer = try await client.request(path.hasSuffix("uploads/") ? .post : .get, path, headers: headers)
                    #expect(answer.status == .unauthorized, "\(path) \(headers)")
                    #expect(answer.headers[.wwwAuthenticate] == #"Basic realm="buse""#)
                    #expect(answer.errorCode == "UNAUTHORIZED")
                }
            }
            #expect(try await client.request(.get, "/v2/", headers: [.authorization: Self.alice]).status == .ok)
        }
    }

    @Test func aPullOnlyUserPullsButIsDeniedEveryChange() async throws {
        try await Self.registry().test { client in
            let blob = pattern(5000)
            let digest = sha256(blob)
            let pushed = try await client.request(
                .post, "/v2/team/app/blobs/uploads/?digest=\(digest)", headers: [.authorization: Self.alice], body: blob)
            #expect(pushed.status == .created)
            let pulled = try await client.request(.get, "/v2/team/app/blobs/\(digest)", headers: [.authorization: Self.ci])
            #expect(pulled.status == .ok)
            #expect(pulled.bytes == blob)
            let changes: [(HTTPRequest.Method, String)] = [
                (.post, "/v2/team/app/blobs/uploads/"), (.post, "/v2/team/app/blobs/uploads/?digest=\(digest)"),
                (.delete, "/v2/team/app/blobs/\(digest)"), (.put, "/v2/team/app/manifests/v1"),
                (.delete, "/v2/team/app/manifests/v1"),
            ]
            for (method, path) in changes {
                let answer = try await client.request(method, path, headers: [.authorization: Self.ci], body: blob)
                #expect(answer.status == .forbidden, "\(method) \(path)")
                #expect(answer.errorCode == "DENIED", "\(method) \(path)")
            }
            // Nothing changed: the blob is still there for alice.
            #expect(try await client.request(.head, "/v2/team/app/blobs/\(digest)", headers: [.authorization: Self.alice]).status == .ok)
        }
    }

    @Test func repeatedWrongPasswordsAreRefusedAndTheRightOneStillWorks() async throws {
        try await Self.registry().test { client in
            for attempt in 0..<40 {
                let answer = try await client.request(.get, "/v2/", headers: [.authorization: Self.basic("alice", "guess \(attempt)")])
                #expect(answer.status == .unauthorized)
            }
            // A wrong password after the right one verified is refused too (the
            // remembered password is compared, not just the user).
            #expect(try await client.request(.get, "/v2/", headers: [.authorization: Self.alice]).status == .ok)
            #expect(try await client.request(.get, "/v2/", headers: [.authorization: Self.basic("alice", "guess")]).status == .unauthorized)
            #expect(try await client.request(.get, "/v2/", headers: [.authorization: Self.alice]).status == .ok)
        }
    }

    @Test func theLogHoldsUsersButNoCredential() async throws {
        let capture = LogCapture()
        try await Self.registry(logger: capture).test { client in
            _ = try await client.request(.get, "/v2/", headers: [.authorization: Self.basic("alice", "my secret guess")])
            _ = try await client.request(.get, "/v2/", headers: [.authorization: Self.alice])
            _ = try await client.request(.post, "/v2/team/app/blobs/uploads/", headers: [.authorization: Self.ci])
        }
        let lines = capture.messages.map(\.message)
        #expect(lines.contains { $0.hasPrefix("GET /v2/ 401 ") })
        #expect(lines.contains { $0.hasPrefix("GET /v2/ (alice) 200 ") })
        #expect(lines.contains { $0.hasPrefix("POST /v2/team/app/blobs/uploads/ (ci) 403 ") })
        for secret in ["my secret guess", "correct horse", "pull only", Self.alice, Self.ci, "Basic "] {
            #expect(!lines.contains { $0.contains(secret) }, "\(secret) logged")
        }
    }
}
