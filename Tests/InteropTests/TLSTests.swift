import Foundation
import TestSupport
import Testing

/// NBD over TLS (NBD_OPT_STARTTLS) with the clients that speak it: libnbd's
/// nbdinfo, nbdcopy and nbdsh through `nbds` URIs, and qemu-img with its
/// `tls-creds-psk` and `tls-creds-x509` objects. Credentials are made in the
/// test by certtool and psktool.
@Suite struct TLSTests {
    /// A server requiring TLS with a PSK file for "alice", on its Unix socket.
    private func pskServer(
        _ directory: TemporaryDirectory, policy: String = "require", device: String = "memory:64M"
    ) async throws -> (BuseServer, keys: String) {
        let keys = directory.file("keys.psk")
        try await TLSFiles.psk(user: "alice", at: keys, in: directory)
        let server = try await BuseServer(
            exports: ["disk=\(device)"], options: ["--tls", policy, "--tls-psk", keys], in: directory)
        return (server, keys)
    }

    private func pskURI(_ server: BuseServer, keys: String, user: String = "alice") -> String {
        "nbds+unix://\(user)@/disk?socket=\(server.socketPath)&tls-psk-file=\(keys)"
    }

    @Test func dataWrittenOverTLSWithPSKReadsBackIdenticallyThroughNbdcopyAndNbdsh() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory)
        let uri = pskURI(server, keys: keys)
        let info = try await runChecked("nbdinfo", ["--size", uri], in: directory)
        #expect(info.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "\(64 << 20)")
        // Several MiB of a seeded pattern, in and out again over TLS.
        let source = directory.file("source.img")
        let copy = directory.file("copy.img")
        try Data(pattern(24 << 20, seed: 14)).write(to: URL(fileURLWithPath: source))
        try await runChecked("nbdcopy", ["--flush", source, uri], in: directory, timeout: .seconds(120))
        try await runChecked("nbdcopy", [uri, copy], in: directory, timeout: .seconds(120))
        let written = try Data(contentsOf: URL(fileURLWithPath: copy))
        #expect(written.count == 64 << 20)
        #expect(sameBytes(written.prefix(24 << 20), pattern(24 << 20, seed: 14)), "the copy read over TLS differs")
        #expect(sameBytes(written.suffix(40 << 20), Data(count: 40 << 20)), "the rest of the copy is not zeros")
        // nbdsh: reads and writes of many sizes, some larger than a TLS record.
        let report = try await nbdshOverTLS(
            """
            import os
            for size in (1, 512, 4096, 16384, 16385, 65536, 1 << 20, 4 << 20):
                data = os.urandom(size)
                h.pwrite(data, 8 << 20)
                report(f"read back {size}", h.pread(size, 8 << 20) == data)
            report("pattern", digest(h.pread(4096, 0)))
            """, uri: uri, in: directory)
        for size in [1, 512, 4096, 16384, 16385, 65536, 1 << 20, 4 << 20] {
            #expect(report["read back \(size)"] == "True", "\(report)")
        }
        #expect(server.process.standardError.contains("TLS established"), "\(server.log)")
        #expect(server.process.standardError.contains("psk-user=alice"), "\(server.log)")
        await server.stopExpectingCleanExit()
    }

    /// libnbd's GnuTLS offers ChaCha20-Poly1305 and GnuTLS's own server
    /// would take it, at about nine times AES-GCM's cost per byte where the
    /// CPU has AES instructions: buse then leaves it out, and the session
    /// is AES-GCM. Elsewhere GnuTLS's defaults stand.
    @Test func sessionsUseAESGCMWhereTheCPUHasAESInstructions() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory)
        try await runChecked("nbdinfo", ["--size", pskURI(server, keys: keys)], in: directory)
        let established = server.process.standardError.split(separator: "\n").filter { $0.contains("TLS established") }
        #expect(established.count == 1, "\(server.log)")
        let flags = try readProcFile("/proc/cpuinfo").split(separator: "\n")
            .first { $0.hasPrefix("flags") || $0.hasPrefix("Features") }
        let hasAES = flags?.split(separator: " ").contains("aes") ?? false
        if hasAES {
            #expect(established.allSatisfy { $0.contains("AES-128-GCM") || $0.contains("AES-256-GCM") }, "\(server.log)")
            #expect(server.process.standardError.contains("bulk ciphers: AES-GCM"), "\(server.log)")
        } else {
            #expect(server.process.standardError.contains("bulk ciphers: GnuTLS's defaults"), "\(server.log)")
        }
        await server.stopExpectingCleanExit()
    }

    /// The start-up hints of a server requiring TLS name `nbds` URIs with
    /// the PSK file's user and path, and the printed command works as it is.
    @Test func theStartUpHintForATLSExportConnectsAsPrinted() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory)
        let hint = try #require(
            server.process.standardOutput.split(separator: "\n").first { $0.hasPrefix("  nbdinfo ") }, "\(server.log)")
        let uri = hint.dropFirst("  nbdinfo ".count).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        #expect(uri == pskURI(server, keys: keys), "\(hint)")
        #expect(!server.process.standardOutput.contains("nbd+unix://"), "no plain hint under --tls require")
        let info = try await runChecked("nbdinfo", ["--size", uri], in: directory)
        #expect(info.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "\(64 << 20)")
        await server.stopExpectingCleanExit()
    }

    @Test func qemuImgInfoAndConvertWorkOverTLSWithPSK() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory)
        // qemu's tls-creds-psk takes a directory holding keys.psk.
        let source = directory.file("source.img")
        try Data(pattern(8 << 20, seed: 7)).write(to: URL(fileURLWithPath: source))
        let object = "tls-creds-psk,id=tls0,endpoint=client,dir=\(directory.path),username=alice"
        let target = "driver=nbd,server.type=unix,server.path=\(server.socketPath),export=disk,tls-creds=tls0"
        let info = try await runChecked("qemu-img", ["info", "--object", object, "--image-opts", target], in: directory)
        #expect(info.standardOutput.contains("virtual size: 64 MiB"), "\(info)")
        try await runChecked(
            "qemu-img", ["convert", "-n", "--object", object, "-f", "raw", "--target-image-opts", source, target], in: directory)
        let copy = directory.file("copy.img")
        try await runChecked("nbdcopy", [pskURI(server, keys: keys), copy], in: directory)
        let written = try Data(contentsOf: URL(fileURLWithPath: copy))
        #expect(sameBytes(written.prefix(8 << 20), pattern(8 << 20, seed: 7)), "qemu-img's copy differs")
        await server.stopExpectingCleanExit()
    }

    @Test func certificatesWorkWithNbdinfoAndQemuImgAndAnUntrustedClientIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let files = try await TLSFiles.certificates(in: directory)
        let server = try await BuseServer(
            exports: ["disk=memory:32M"],
            options: [
                "--listen", "127.0.0.1:0", "--tls", "require", "--tls-certificates", files.serverDirectory,
                "--tls-verify-peer",
            ], in: directory)
        let port = try #require(server.tcpPort)
        func uri(_ client: String) -> String { "nbds://localhost:\(port)/disk?tls-certificates=\(client)" }
        let info = try await runChecked("nbdinfo", ["--size", uri(files.clientDirectory)], in: directory)
        #expect(info.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "\(32 << 20)")
        // qemu-img through tls-creds-x509, both ways.
        let source = directory.file("source.img")
        try Data(pattern(4 << 20, seed: 509)).write(to: URL(fileURLWithPath: source))
        let object = "tls-creds-x509,id=tls0,endpoint=client,dir=\(files.clientDirectory)"
        let target = "driver=nbd,server.type=inet,server.host=localhost,server.port=\(port),export=disk,tls-creds=tls0"
        let qemuInfo = try await runChecked("qemu-img", ["info", "--object", object, "--image-opts", target], in: directory)
        #expect(qemuInfo.standardOutput.contains("virtual size: 32 MiB"), "\(qemuInfo)")
        try await runChecked(
            "qemu-img", ["convert", "-n", "--object", object, "-f", "raw", "--target-image-opts", source, target], in: directory)
        let copy = directory.file("copy.img")
        try await runChecked(
            "qemu-img", ["convert", "--object", object, "--image-opts", target, "-O", "raw", copy], in: directory)
        let written = try Data(contentsOf: URL(fileURLWithPath: copy))
        #expect(sameBytes(written.prefix(4 << 20), pattern(4 << 20, seed: 509)), "the x509 copy differs")
        // A client certificate from another CA, and none at all: refused.
        for client in [files.untrustedClientDirectory, files.anonymousClientDirectory] {
            let refused = try await run("nbdinfo", ["--size", uri(client)], in: directory)
            #expect(!refused.succeeded, "a client with \(client) was served:\n\(refused)")
        }
        #expect(server.process.standardError.contains("TLS handshake failed"), "\(server.log)")
        // The server still serves a trusted client afterwards.
        try await runChecked("nbdinfo", ["--size", uri(files.clientDirectory)], in: directory)
        await server.stopExpectingCleanExit()
    }

    @Test func aWrongPSKKeyIsRefusedAndTheServerServesOn() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory)
        let wrong = directory.file("wrong.psk")
        try await TLSFiles.psk(user: "alice", at: wrong, in: directory)
        for _ in 0..<3 {
            let refused = try await run("nbdinfo", ["--size", pskURI(server, keys: wrong)], in: directory)
            #expect(!refused.succeeded, "a client with the wrong key was served:\n\(refused)")
        }
        let stranger = try await run("nbdinfo", ["--size", pskURI(server, keys: keys, user: "mallory")], in: directory)
        #expect(!stranger.succeeded, "an unknown PSK user was served:\n\(stranger)")
        #expect(server.process.standardError.contains("TLS handshake failed"), "\(server.log)")
        try await runChecked("nbdinfo", ["--size", pskURI(server, keys: keys)], in: directory)
        await server.stopExpectingCleanExit()
    }

    @Test func aPlainClientAgainstRequireGetsErrTLSRequired() async throws {
        let directory = try TemporaryDirectory()
        let (server, _) = try await pskServer(directory)
        let plain = try await run("nbdinfo", ["--size", server.uri("disk")], in: directory)
        #expect(!plain.succeeded, "a plain client was served by --tls require:\n\(plain)")
        #expect(plain.standardError.lowercased().contains("tls"), "nbdinfo should say TLS is needed:\n\(plain)")
        #expect(server.process.standardError.contains("NBD_REP_ERR_TLS_REQD"), "\(server.log)")
        // qemu-img too.
        let qemu = try await run("qemu-img", ["info", server.uri("disk")], in: directory)
        #expect(!qemu.succeeded, "qemu-img was served in plain text by --tls require:\n\(qemu)")
        await server.stopExpectingCleanExit()
    }

    @Test func onServesPlainAndTLSClientsAlike() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory, policy: "on")
        try await runChecked(
            "nbdsh", ["-u", server.uri("disk"), "-c", "h.pwrite(b'plain' * 100, 4096)"], in: directory, environment: Tool.systemEnvironment)
        let report = try await nbdshOverTLS(
            "report('read', bytes(h.pread(500, 4096)) == b'plain' * 100)", uri: pskURI(server, keys: keys), in: directory)
        #expect(report["read"] == "True", "\(report)")
        await server.stopExpectingCleanExit()
    }

    @Test func theConfigFileCanRequireTLS() async throws {
        let directory = try TemporaryDirectory()
        let keys = directory.file("keys.psk")
        try await TLSFiles.psk(user: "alice", at: keys, in: directory)
        let config = directory.file("serve.yaml")
        try "tls: require\ntls-psk: \(keys)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let server = try await BuseServer(exports: ["disk=memory:16M"], options: ["--config", config], in: directory)
        let plain = try await run("nbdinfo", ["--size", server.uri("disk")], in: directory)
        #expect(!plain.succeeded, "a plain client was served with tls: require in the config:\n\(plain)")
        try await runChecked("nbdinfo", ["--size", pskURI(server, keys: keys)], in: directory)
        await server.stopExpectingCleanExit()
    }

    @Test func garbageAfterTheStartTLSAckClosesOnlyThatConnection() async throws {
        let directory = try TemporaryDirectory()
        let (server, keys) = try await pskServer(directory)
        let result = try await runChecked(
            "python3", ["-c", Self.garbageScript, server.socketPath], in: directory, environment: Tool.systemEnvironment)
        #expect(result.standardOutput.contains("ack=ok"), "\(result)")
        #expect(result.standardOutput.contains("closed=yes"), "\(result)")
        #expect(server.process.standardError.contains("TLS handshake failed"), "\(server.log)")
        try await runChecked("nbdinfo", ["--size", pskURI(server, keys: keys)], in: directory)
        await server.stopExpectingCleanExit()
    }

    @Test func recordsThatDoNotDecryptCloseOnlyThatConnectionInEitherPhase() async throws {
        let directory = try TemporaryDirectory()
        let files = try await TLSFiles.certificates(in: directory)
        let server = try await BuseServer(
            exports: ["disk=memory:16M"], options: ["--tls", "require", "--tls-certificates", files.serverDirectory],
            in: directory)
        let result = try await runChecked(
            "python3", ["-c", Self.badRecordScript, server.socketPath, files.clientDirectory + "/ca-cert.pem"],
            in: directory, environment: Tool.systemEnvironment)
        #expect(result.standardOutput.contains("options=closed"), "\(result)")
        #expect(result.standardOutput.contains("read=ok"), "\(result)")
        #expect(result.standardOutput.contains("transmission=closed"), "\(result)")
        #expect(result.standardOutput.contains("after=ok"), "the server stopped serving:\n\(result)")
        #expect(server.process.standardError.contains("TLS receive"), "\(server.log)")
        await server.stopExpectingCleanExit()
    }

    @Test func badTLSConfigurationStopsStartUpWithAClearError() async throws {
        let directory = try TemporaryDirectory()
        let garbage = directory.file("garbage.psk")
        try "alice:not-hex\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let cases: [(arguments: [String], says: String)] = [
            (["--tls", "require"], "--tls-certificates DIR or --tls-psk FILE"),
            (["--tls", "require", "--tls-psk", directory.file("missing.psk")], "missing.psk"),
            (["--tls", "require", "--tls-psk", garbage], "hex digits"),
            (["--tls", "require", "--tls-certificates", directory.path], "server-cert.pem"),
            (["--tls-psk", garbage], "TLS is off"),
        ]
        for (arguments, says) in cases {
            let result = try await run(
                try Tool.buse(), ["serve", "--export", "d=memory:1M", "--unix", directory.unique("s")] + arguments,
                in: directory, timeout: .seconds(120))
            #expect(result.exitStatus != 0 && result.termination != nil, "buse started with \(arguments):\n\(result)")
            #expect(result.standardError.contains(says), "\(arguments) should say \(says):\n\(result)")
        }
    }

    /// Runs `script` under nbdsh with `h` connected to `uri`. nbdsh's `-u`
    /// refuses URIs that name local files (`tls-psk-file`), so the script
    /// connects itself after allowing them.
    private func nbdshOverTLS(_ script: String, uri: String, in directory: TemporaryDirectory) async throws -> ScriptReport {
        let connect = "uri = \(Nbdsh.pythonString(uri))\nh.set_uri_allow_local_file(True)\nh.connect_uri(uri)\n"
        let result = try await runChecked(
            try Tool.path("nbdsh"), ["-c", Nbdsh.prelude + "\n" + connect, "-c", script], in: directory,
            timeout: .seconds(120), environment: Tool.systemEnvironment)
        return ScriptReport(result.standardOutput)
    }

    /// Python's ssl module (X.509 only: it has no PSK before 3.13) upgrades
    /// three connections; on the first it writes a record that does not
    /// decrypt straight to the socket during option haggling, on the second
    /// after a good READ in transmission; the third must still be served.
    static let badRecordScript = """
        import os, socket, ssl, struct, sys
        path, authority = sys.argv[1], sys.argv[2]
        IHAVEOPT = 0x49484156454f5054
        def receive(sock, count):
            data = b""
            while len(data) < count:
                piece = sock.recv(count - len(data))
                if not piece:
                    raise EOFError("closed")
                data += piece
            return data
        def upgraded():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(30)
            sock.connect(path)
            receive(sock, 18)
            sock.sendall(struct.pack(">I", 3))
            sock.sendall(struct.pack(">QII", IHAVEOPT, 5, 0))
            assert struct.unpack(">QIII", receive(sock, 20))[2] == 1, "STARTTLS was not acknowledged"
            context = ssl.create_default_context(cafile=authority)
            return context.wrap_socket(sock, server_hostname="localhost")
        def go_and_read(tls):
            payload = struct.pack(">I", 4) + b"disk" + struct.pack(">H", 0)
            tls.sendall(struct.pack(">QII", IHAVEOPT, 7, len(payload)) + payload)
            while True:
                _, _, kind, length = struct.unpack(">QIII", receive(tls, 20))
                receive(tls, length)
                if kind == 1:
                    break
                assert kind < 0x80000000, f"GO failed: {kind:#x}"
            tls.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0, 512))
            magic, error, cookie = struct.unpack(">IIQ", receive(tls, 16))
            receive(tls, 512)
            return "ok" if (magic, error, cookie) == (0x67446698, 0, 1) else f"{magic:#x} {error} {cookie}"
        def closed(tls):
            try:
                while tls.recv(4096):
                    pass
                return "closed"
            except TimeoutError:
                return "still open after 30 s"
            except (ssl.SSLError, ConnectionError, EOFError):
                return "closed"
        tls = upgraded()
        os.write(tls.fileno(), b"\\x17\\x03\\x03\\x00\\x40" + os.urandom(64))
        print("options=" + closed(tls), flush=True)
        tls = upgraded()
        print("read=" + go_and_read(tls), flush=True)
        os.write(tls.fileno(), b"\\x17\\x03\\x03\\x00\\x40" + os.urandom(64))
        print("transmission=" + closed(tls), flush=True)
        print("after=" + go_and_read(upgraded()), flush=True)
        """

    /// STARTTLS, its ACK, then bytes that are no TLS handshake: the server
    /// must close this connection. Prints `ack=ok` and `closed=yes`.
    static let garbageScript = RawSocketPython.script(
        """
        receive(18)
        sock.sendall(struct.pack(">I", 3))
        sock.sendall(struct.pack(">QII", 0x49484156454f5054, 5, 0))  # NBD_OPT_STARTTLS
        magic, option, kind, length = struct.unpack(">QIII", receive(20))
        print("ack=" + ("ok" if (option, kind, length) == (5, 1, 0) else f"{option} {kind:#x} {length}"), flush=True)
        sock.sendall(b"\\x16\\x03\\x01\\x00\\x10" + b"\\xde\\xad\\xbe\\xef" * 4 + b"GET / HTTP/1.0\\r\\n" * 64)
        try:
            while sock.recv(4096):
                pass
            print("closed=yes", flush=True)
        except ConnectionResetError:
            print("closed=yes", flush=True)
        """)
}
