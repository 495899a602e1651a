import Foundation
import TestSupport
import Testing

/// `buse registry serve` over HTTPS (a CA and server certificate made by
/// certtool) with htpasswd logins (made by Apache's `htpasswd -B`), driven
/// by the real clients: skopeo with `--creds`, `podman login`, curl. The
/// pusher pushes, the pull-only user pulls and is denied a push, wrong
/// passwords are refused however often, and no password reaches the log.
@Suite struct RegistryAccessTests {
    static let pusher = ("alice", "correct horse battery")
    static let puller = ("ci", "pull only please")

    @Test(.timeLimit(.minutes(10)))
    func skopeoAndPodmanLogInOverHTTPSAndPullOnlyUsersCannotPush() async throws {
        let directory = try TemporaryDirectory()
        let (registry, certificates) = try await Self.start(in: directory)
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: [300_000, 4096], in: directory)
        let reference = "docker://\(registry.address)/team/app:v1"
        let tls = ["--dest-cert-dir", certificates]

        // Right password: pushed over HTTPS.
        try await Self.skopeo(
            ["copy"] + tls + ["--dest-creds", "alice:\(Self.pusher.1)", "oci:\(layout):v1", reference], registry, directory)
        // Wrong password, no credentials, and a pull-only user: refused.
        let wrong = try await run(
            "skopeo", ["copy"] + tls + ["--dest-creds", "alice:not-it", "oci:\(layout):v1", reference], in: directory,
            timeout: .seconds(120))
        #expect(!wrong.succeeded)
        #expect(wrong.standardError.lowercased().contains("unauthorized") || wrong.standardError.contains("401"), "\(wrong)")
        let anonymous = try await run(
            "skopeo", ["inspect", "--cert-dir", certificates, reference], in: directory, timeout: .seconds(120))
        #expect(!anonymous.succeeded)
        let denied = try await run(
            "skopeo",
            ["copy"] + tls + ["--dest-creds", "ci:\(Self.puller.1)", "oci:\(layout):v1", "docker://\(registry.address)/team/other:v1"],
            in: directory, timeout: .seconds(120))
        #expect(!denied.succeeded)
        #expect(denied.standardError.lowercased().contains("denied"), "\(denied)")

        // The pull-only user pulls the image back, identical.
        let pulled = directory.file("pulled")
        try await Self.skopeo(
            ["copy", "--src-cert-dir", certificates, "--src-creds", "ci:\(Self.puller.1)", reference, "oci:\(pulled):v1"], registry,
            directory)
        let manifest = try RegistryImageLayout.manifestDigest(of: layout, tag: "v1")
        #expect(try RegistryImageLayout.manifestDigest(of: pulled, tag: "v1") == manifest)
        #expect(
            try RegistryImageLayout.blobDigests(of: pulled, manifest: manifest)
                == RegistryImageLayout.blobDigests(of: layout, manifest: manifest))

        // podman: login with a wrong then the right password, then pull.
        let podman = RegistryPodmanTests.Podman(directory: directory)
        let authFile = ["--authfile", directory.file("auth.json")]
        let badLogin = try await run(
            "podman", podman.global + ["login", "--cert-dir", certificates] + authFile + ["-u", "ci", "-p", "wrong", registry.address],
            in: directory, timeout: .seconds(180))
        #expect(!badLogin.succeeded, "\(badLogin)")
        try await podman.run(
            ["login", "--cert-dir", certificates] + authFile + ["-u", "ci", "-p", Self.puller.1, registry.address], registry)
        try await podman.run(["pull", "--cert-dir", certificates] + authFile + ["\(registry.address)/team/app:v1"], registry)
        let images = try await podman.run(["images", "--quiet"]).standardOutput
        #expect(!images.isEmpty)

        let log = registry.process.standardError
        #expect(log.contains(" 401 "))
        #expect(log.contains("(ci) 403 "))
        for secret in [Self.pusher.1, Self.puller.1, "not-it", "Basic "] {
            #expect(!log.contains(secret), "\(secret) is in the log")
        }
        #expect(await registry.stop() == .exit(0), "\(registry.log)")
    }

    @Test func wrongPasswordsRepeatedAreRefusedAndTheServiceStaysUp() async throws {
        let directory = try TemporaryDirectory()
        let (registry, certificates) = try await Self.start(in: directory)
        let url = "https://\(registry.address)/v2/"
        let ca = ["--cacert", certificates + "/ca.crt"]
        for attempt in 0..<30 {
            let answer = try await Self.curl(ca + ["-u", "alice:guess\(attempt)", url], directory)
            #expect(answer.status == "401", "attempt \(attempt)")
            #expect(answer.headers.contains(#"www-authenticate: Basic realm="buse""#))
        }
        #expect(try await Self.curl(ca + ["-u", "alice:\(Self.pusher.1)", url], directory).status == "200")
        // TLS is required: plain HTTP on the same port gets no registry answer.
        let plain = try await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(registry.address)/v2/"], in: directory)
        #expect(plain.standardOutput != "200")
        #expect(registry.process.termination == nil)
        #expect(await registry.stop() == .exit(0), "\(registry.log)")
    }

    /// The registry on HTTPS with both users; returns it and a certificate
    /// directory for containers' tools (`ca.crt`).
    static func start(in directory: TemporaryDirectory) async throws -> (RegistryProcess, String) {
        let pki = try await TLSFiles.certificates(in: directory)
        let certificates = directory.file("client-certs")
        try FileManager.default.createDirectory(atPath: certificates, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: pki.serverDirectory + "/ca-cert.pem", toPath: certificates + "/ca.crt")
        let htpasswd = directory.file("htpasswd")
        try await runChecked("htpasswd", ["-B", "-b", "-c", htpasswd, pusher.0, pusher.1], in: directory)
        try await runChecked("htpasswd", ["-B", "-b", htpasswd, puller.0, puller.1], in: directory)
        let registry = try await RegistryProcess(
            in: directory,
            options: [
                "--tls-cert", pki.serverDirectory + "/server-cert.pem", "--tls-key", pki.serverDirectory + "/server-key.pem",
                "--htpasswd", htpasswd, "--read-only-users", puller.0,
            ])
        return (registry, certificates)
    }

    @discardableResult
    static func skopeo(_ arguments: [String], _ registry: RegistryProcess, _ directory: TemporaryDirectory) async throws -> RunResult {
        let result = try await run("skopeo", arguments, in: directory, timeout: .seconds(120))
        guard result.succeeded else { throw InteropError("skopeo failed:\n\(result)\n--- registry log ---\n\(registry.log)") }
        return result
    }

    /// curl's status code and response headers (lowercased names).
    static func curl(_ arguments: [String], _ directory: TemporaryDirectory) async throws -> (status: String, headers: String) {
        let result = try await runChecked("curl", ["-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"] + arguments, in: directory)
        // `\r\n` is one Character in Swift: split on every kind of newline.
        let lines = result.standardOutput.split(whereSeparator: \.isNewline).map { String($0) }
        let headers = lines.dropLast().map { line -> String in
            guard let colon = line.firstIndex(of: ":") else { return line }
            return line[..<colon].lowercased() + line[colon...]
        }
        return (lines.last ?? "", headers.joined(separator: "\n"))
    }
}
