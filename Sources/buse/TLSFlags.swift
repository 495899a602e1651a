public import ArgumentParser
import Foundation
import Logging
import NBDServer
import Sockets
import TLS

public import enum NBDProtocol.TLSPolicy

extension TLSPolicy: ExpressibleByArgument {}

/// The options that put `serve` behind TLS (NBD_OPT_STARTTLS).
struct TLSFlags: ParsableArguments {
    @Option(
        name: .customLong("tls"),
        help: ArgumentHelp(
            "off, on (clients may start TLS) or require (clients must: every option before STARTTLS gets NBD_REP_ERR_TLS_REQD). (default: off)",
            valueName: "mode"))
    var policy: TLSPolicy?

    @Option(
        help: ArgumentHelp(
            "A directory with server-cert.pem, server-key.pem and ca-cert.pem, as nbdkit and qemu take (make them with certtool).",
            valueName: "dir"))
    var tlsCertificates: String?

    @Option(
        help: ArgumentHelp("A PSK file of username:hexkey lines, as `psktool -u NAME -p FILE` writes.", valueName: "file"))
    var tlsPsk: String?

    @Flag(help: "Require client certificates signed by the CA in --tls-certificates (ca-cert.pem).")
    var tlsVerifyPeer = false

    /// How a client on this host reaches the exports when TLS is on: `nbds`
    /// URIs with the credential the start-up hints name (the PSK file's first
    /// user, or a client certificate directory to fill in).
    func clientHint(_ file: ServeConfiguration?, policy: TLSPolicy) -> TLSClientHint? {
        guard policy != .off else { return nil }
        if let psk = tlsPsk ?? file?.tlsPsk {
            let user = (try? PSKFile.usernames(in: psk))?.first
            let path = psk.hasPrefix("/") ? psk : FileManager.default.currentDirectoryPath + "/" + psk
            return TLSClientHint(user: user, query: "tls-psk-file=\(path)", plainToo: policy == .on)
        }
        return TLSClientHint(user: nil, query: "tls-certificates=CLIENT-DIR", plainToo: policy == .on)
    }

    /// The settings from these flags, each overriding its config-file key;
    /// credentials are loaded and checked here, so a bad file stops start-up.
    func settings(_ file: ServeConfiguration?) throws -> TLSSettings {
        let policy = try policy ?? file?.tls.map(Self.policy(named:)) ?? .off
        let certificates = tlsCertificates ?? file?.tlsCertificates
        let psk = tlsPsk ?? file?.tlsPsk
        let verifyPeer = tlsVerifyPeer || (file?.tlsVerifyPeer ?? false)
        guard policy != .off else {
            if certificates != nil || psk != nil || verifyPeer {
                throw CommandLineError("TLS credentials are given but TLS is off: add --tls require (or --tls on)")
            }
            return .off
        }
        let credentials: TLSCredentials
        do {
            switch (certificates, psk) {
            case let (directory?, nil):
                credentials = try TLSCredentials.certificates(directory: directory, verifyPeer: verifyPeer)
            case let (nil, file?):
                guard !verifyPeer else { throw CommandLineError("--tls-verify-peer needs --tls-certificates, not --tls-psk") }
                credentials = try TLSCredentials.psk(file: file)
            case (nil, nil):
                throw CommandLineError("--tls \(policy.rawValue) needs --tls-certificates DIR or --tls-psk FILE")
            case (_?, _?):
                throw CommandLineError("give --tls-certificates or --tls-psk, not both")
            }
        } catch let error as TLSSetupError {
            throw CommandLineError("TLS: \(error)")
        }
        return TLSSettings(policy: policy, credentials: credentials)
    }

    private static func policy(named text: String) throws -> TLSPolicy {
        guard let policy = TLSPolicy(rawValue: text) else {
            throw CommandLineError("tls: \(text) is not off, on or require")
        }
        return policy
    }

    /// Says so, loudly, when exports are reachable from other hosts in
    /// plain text: anyone who can connect can read and write them.
    static func warnIfExposed(_ settings: TLSSettings, _ addresses: [ListenAddress], _ logger: Logger) {
        guard settings.policy != .require else { return }
        for case let .tcp(host, port) in addresses where !isLoopback(host) {
            if settings.policy == .off {
                logger.warning(
                    "listening on \(host):\(port) without TLS: anyone who can reach it can read and write every export (use --tls require)")
            } else {
                logger.warning(
                    "listening on \(host):\(port) with --tls on: clients that do not ask for TLS are still served in plain text (use --tls require)"
                )
            }
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// What the start-up hints print for a TLS client.
struct TLSClientHint {
    let user: String?
    let query: String
    /// `--tls on`: plain clients are served too.
    let plainToo: Bool
}
