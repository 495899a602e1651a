import Testing

@testable import RegistryCore

@Suite struct AccessPolicyTests {
    static let alice = "$2y$05$h/JGLk7lSxPjWRbC9YEBOuzn08DYVeIpwTPs0NkqpmARww1lFggUi"
    static let ci = "$2b$05$4BELuijv6jWMKYrdKxmHsu9kAmG00TlOKcPfbtnRSDYjGZjoH56qC"

    @Test func htpasswdTakesBcryptEntriesAndReadsTwoYAsTwoB() throws {
        let file = try Htpasswd(parsing: "# users\nalice:\(Self.alice)\r\n\n   \nci:\(Self.ci)\n")
        #expect(file.hashes == ["alice": "$2b" + Self.alice.dropFirst(3), "ci": Self.ci])
    }

    @Test(
        arguments: [
            ("alice", HtpasswdError.malformedLine(1)),
            (":\(alice)", .malformedLine(1)),
            ("al ice:\(alice)", .malformedLine(1)),
            ("alice:\(alice)\nmd5:$apr1$utmtxvXf$3WomJRqpi95F5fHpU8xJI/", .notBcrypt(line: 2, user: "md5")),
            ("sha:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=", .notBcrypt(line: 1, user: "sha")),
            ("plain:secret", .notBcrypt(line: 1, user: "plain")),
            ("short:$2y$05$abc", .notBcrypt(line: 1, user: "short")),
            ("x:$2x$05$h/JGLk7lSxPjWRbC9YEBOuzn08DYVeIpwTPs0NkqpmARww1lFggUi", .notBcrypt(line: 1, user: "x")),
            ("alice:\(alice)\nalice:\(alice)", .duplicateUser(line: 2, user: "alice")),
            ("", .noUsers),
            ("# nobody\n", .noUsers),
        ] as [(String, HtpasswdError)])
    func htpasswdRefusesWhatCannotLogIn(_ text: String, _ expected: HtpasswdError) {
        #expect(throws: expected) { try Htpasswd(parsing: text) }
    }

    @Test func routesThatChangeTheRegistryNeedPush() throws {
        let name = try RepositoryName(validating: "team/app")
        let digest = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        let id = try UploadID(validating: "3f2a7c1e-0000-4000-8000-000000000000")
        let reference = try Reference(parsing: "v1")
        let page = PageRequest()
        let pulls: [Route] = [
            .base, .catalog(page), .listTags(name, page), .getBlob(name, digest), .headBlob(name, digest),
            .getManifest(name, reference), .headManifest(name, reference), .listReferrers(name, digest, artifactType: nil),
        ]
        let pushes: [Route] = [
            .deleteBlob(name, digest), .startUpload(name, .session), .startUpload(name, .mount(digest, from: nil)),
            .getUpload(name, id), .patchUpload(name, id), .finishUpload(name, id, digest), .cancelUpload(name, id),
            .putManifest(name, reference, tags: []), .deleteManifest(name, reference),
        ]
        #expect(pulls.allSatisfy { $0.access == .pull })
        #expect(pushes.allSatisfy { $0.access == .push })
    }

    @Test func readOnlyUsersPullButAreDeniedPush() throws {
        let users = try Htpasswd(parsing: "alice:\(Self.alice)\nci:\(Self.ci)")
        let policy = try AccessPolicy(users: users, readOnlyUsers: ["ci"])
        #expect(policy.denial(of: .pull, to: "ci") == nil)
        #expect(policy.denial(of: .push, to: "ci")?.code == .denied)
        #expect(policy.denial(of: .push, to: "ci")?.status == 403)
        #expect(policy.denial(of: .push, to: "alice") == nil)
        #expect(AccessPolicy.challenge == #"Basic realm="buse""#)
        #expect(AccessPolicy.unauthorized.status == 401)
    }

    @Test func aReadOnlyUserMissingFromTheFileIsRefused() throws {
        let users = try Htpasswd(parsing: "alice:\(Self.alice)")
        #expect(throws: AccessPolicyError.unknownReadOnlyUsers(["bob", "ci"])) {
            try AccessPolicy(users: users, readOnlyUsers: ["ci", "bob", "alice"])
        }
    }
}
