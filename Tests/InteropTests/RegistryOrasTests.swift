import Foundation
import Testing

/// oras (the Python package, 0.2.43) pushes an artifact in chunks, then two
/// artifacts whose `subject` is the first; the referrers API, read with
/// plain HTTP (oras-py cannot list referrers), lists both, and its
/// `artifactType` filter keeps one and says so with `OCI-Filters-Applied`.
@Suite struct RegistryOrasTests {
    static let sbomType = "application/vnd.example.sbom.v1+json"
    static let signatureType = "application/vnd.example.signature.v1+json"

    /// Run as `python3 push.py HOST REPOSITORY`, in the directory that holds
    /// it; prints one JSON object with the three manifest digests.
    static let script = """
        import json, sys
        import requests
        import oras.client, oras.oci

        host, repository = sys.argv[1], sys.argv[2]
        client = oras.client.OrasClient(hostname=host, insecure=True)

        def push(tag, path, content, config_type=None, subject=None):
            with open(path, "wb") as f:
                f.write(content)
            config = None
            if config_type:
                with open(path + ".config", "w") as f:
                    f.write("{}")
                config = path + ".config:" + config_type
            response = client.push(
                target=f"{host}/{repository}:{tag}", files=[path + ":application/octet-stream"],
                manifest_config=config, subject=subject, do_chunked=True, chunk_size=40000, quiet=True)
            return response

        # 100 000 bytes in 40 000-byte chunks: three chunked PATCHes.
        push("v1", "artifact.bin", bytes(range(256)) * 390 + bytes(160))
        head = requests.head(
            f"http://{host}/v2/{repository}/manifests/v1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        head.raise_for_status()
        subject = oras.oci.Subject(
            mediaType="application/vnd.oci.image.manifest.v1+json",
            digest=head.headers["Docker-Content-Digest"], size=int(head.headers["Content-Length"]))
        sbom = push("sbom", "sbom.json", b'{"packages":[]}', "\(sbomType)", subject)
        signature = push("sig", "signature.bin", b"signed", "\(signatureType)", subject)
        print(json.dumps({
            "subject": subject.digest,
            "sbom": sbom.headers["Docker-Content-Digest"],
            "signature": signature.headers["Docker-Content-Digest"],
            "ociSubject": [sbom.headers.get("OCI-Subject"), signature.headers.get("OCI-Subject")],
        }))
        """

    @Test(.timeLimit(.minutes(10)))
    func orasPushesArtifactsWithASubjectAndTheReferrersListShowsThem() async throws {
        let directory = try TemporaryDirectory()
        try Self.script.write(toFile: directory.file("push.py"), atomically: true, encoding: .utf8)
        // The python3 the install script installed oras for: the first on PATH.
        let python = try Tool.pathFromEnvironment("python3")
        let module = try await run(python, ["-c", "import oras"], in: directory)
        guard module.succeeded else {
            throw InteropError("\(python) cannot import oras; run `scripts/install-packages.sh test`:\n\(module)")
        }
        let registry = try await RegistryProcess(in: directory)
        let pushed = try await run(
            python, [directory.file("push.py"), registry.address, "team/artifacts"], in: directory, timeout: .seconds(120))
        guard pushed.succeeded, let line = pushed.standardOutput.split(separator: "\n").last,
            let result = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let subject = result["subject"] as? String, let sbom = result["sbom"] as? String,
            let signature = result["signature"] as? String
        else { throw InteropError("the oras script failed:\n\(pushed)\n--- registry log ---\n\(registry.log)") }
        #expect(result["ociSubject"] as? [String] == [subject, subject], "the PUTs with a subject must answer OCI-Subject")
        // oras-py uploads in chunks with Content-Range: they reached buse as PATCHes.
        #expect(registry.process.standardError.contains("PATCH /v2/team/artifacts/blobs/uploads/"), "\(registry.log)")

        let all = try await HTTPExchange(method: "GET", target: "/v2/team/artifacts/referrers/\(subject)")
            .send(to: registry.address, in: directory)
        #expect(all.status == 200)
        #expect(all.headers["content-type"] == "application/vnd.oci.image.index.v1+json")
        #expect(all.headers["oci-filters-applied"] == nil)
        let listed = try Self.referrers(all)
        #expect(listed[sbom] == Self.sbomType && listed[signature] == Self.signatureType && listed.count == 2, "\(all.text)")

        let filter = Self.sbomType.replacingOccurrences(of: "+", with: "%2B")
        let filtered = try await HTTPExchange(method: "GET", target: "/v2/team/artifacts/referrers/\(subject)?artifactType=\(filter)")
            .send(to: registry.address, in: directory)
        #expect(filtered.status == 200)
        #expect(filtered.headers["oci-filters-applied"] == "artifactType")
        #expect(try Self.referrers(filtered) == [sbom: Self.sbomType], "\(filtered.text)")
        #expect(await registry.stop() == .exit(0), "\(registry.log)")
    }

    /// digest → artifactType of each descriptor in a referrers index.
    static func referrers(_ answer: HTTPExchange.Answer) throws -> [String: String] {
        let index = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
        var listed: [String: String] = [:]
        for descriptor in index?["manifests"] as? [[String: Any]] ?? [] {
            if let digest = descriptor["digest"] as? String { listed[digest] = descriptor["artifactType"] as? String ?? "" }
        }
        return listed
    }
}
