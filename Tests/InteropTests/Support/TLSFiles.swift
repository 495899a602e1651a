import Foundation

/// Credentials made for one test with GnuTLS's own tools, in the layouts
/// nbdkit, qemu and libnbd take: `certtool` for a CA, a server certificate
/// (for localhost and 127.0.0.1) and client certificates, `psktool` for
/// PSK files. ECDSA keys: quick to make.
struct TLSFiles {
    /// `ca-cert.pem`, `server-cert.pem`, `server-key.pem`: for `buse serve --tls-certificates`.
    let serverDirectory: String
    /// `ca-cert.pem`, `client-cert.pem`, `client-key.pem` signed by the same CA.
    let clientDirectory: String
    /// The same CA, but a client certificate signed by another CA.
    let untrustedClientDirectory: String
    /// Only `ca-cert.pem`: a client that has no certificate of its own.
    let anonymousClientDirectory: String

    static func certificates(in directory: TemporaryDirectory) async throws -> TLSFiles {
        let root = directory.file("pki")
        let files = TLSFiles(
            serverDirectory: root + "/server", clientDirectory: root + "/client",
            untrustedClientDirectory: root + "/untrusted", anonymousClientDirectory: root + "/anonymous")
        for path in [root, files.serverDirectory, files.clientDirectory, files.untrustedClientDirectory, files.anonymousClientDirectory] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        let ca = try await authority(named: "buse test CA", at: root + "/ca", in: directory)
        let rogue = try await authority(named: "someone else's CA", at: root + "/rogue", in: directory)
        try await certificate(
            signedBy: ca, template: "cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\n",
            key: files.serverDirectory + "/server-key.pem", certificate: files.serverDirectory + "/server-cert.pem",
            in: directory)
        try await certificate(
            signedBy: ca, template: "cn = buse test client\ntls_www_client\n",
            key: files.clientDirectory + "/client-key.pem", certificate: files.clientDirectory + "/client-cert.pem",
            in: directory)
        try await certificate(
            signedBy: rogue, template: "cn = buse test client\ntls_www_client\n",
            key: files.untrustedClientDirectory + "/client-key.pem",
            certificate: files.untrustedClientDirectory + "/client-cert.pem", in: directory)
        for target in [files.serverDirectory, files.clientDirectory, files.untrustedClientDirectory, files.anonymousClientDirectory] {
            try FileManager.default.copyItem(atPath: ca + "-cert.pem", toPath: target + "/ca-cert.pem")
        }
        return files
    }

    /// A PSK file with one random key for `user`, as `psktool` writes it.
    static func psk(user: String, at path: String, in directory: TemporaryDirectory) async throws {
        try await runChecked("psktool", ["-u", user, "-p", path], in: directory)
    }

    /// Makes a self-signed CA; returns the path stem (`STEM-cert.pem`, `STEM-key.pem`).
    private static func authority(named name: String, at stem: String, in directory: TemporaryDirectory) async throws -> String {
        let template = stem + ".info"
        try "cn = \(name)\nca\ncert_signing_key\nexpiration_days = 30\n".write(toFile: template, atomically: true, encoding: .utf8)
        try await runChecked(
            "certtool", ["--generate-privkey", "--key-type=ecdsa", "--outfile", stem + "-key.pem"], in: directory)
        try await runChecked(
            "certtool",
            [
                "--generate-self-signed", "--load-privkey", stem + "-key.pem", "--template", template, "--outfile",
                stem + "-cert.pem",
            ], in: directory)
        return stem
    }

    private static func certificate(
        signedBy authority: String, template text: String, key: String, certificate: String, in directory: TemporaryDirectory
    ) async throws {
        let template = certificate + ".info"
        try (text + "encryption_key\nsigning_key\nexpiration_days = 30\n").write(toFile: template, atomically: true, encoding: .utf8)
        try await runChecked("certtool", ["--generate-privkey", "--key-type=ecdsa", "--outfile", key], in: directory)
        try await runChecked(
            "certtool",
            [
                "--generate-certificate", "--load-privkey", key, "--load-ca-certificate", authority + "-cert.pem",
                "--load-ca-privkey", authority + "-key.pem", "--template", template, "--outfile", certificate,
            ], in: directory)
        try FileManager.default.removeItem(atPath: template)
    }
}
