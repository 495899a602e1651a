import Foundation
import Testing

/// buse's registry against docker-registry 2.8.2 (distribution, Debian's
/// package), the registry most clients were written against.
///
/// One request sequence, valid and malformed, goes to both servers; every
/// step must get the same status, except the steps in `departures`, where
/// the status each server sends is written down with the reason, and the
/// same error code where both send one, except in `codeDepartures`. Content
/// both serve (blobs, byte ranges, manifests) must be byte-identical, and
/// the listings show 2.8's unsorted, unpaged tags against buse's. And
/// each serves a root the other wrote, pulled by skopeo with identical
/// digests: distribution's layout is buse's, so migration works both ways.
@Suite struct RegistryDifferentialTests {
    /// Where buse and 2.8 answer one step differently, and why. Most are
    /// places where 2.8 departs from the OCI distribution spec v1.1; the
    /// rest are choices of buse the spec allows (marked so).
    struct Departure {
        let buse: Int
        let distribution: Int
        let reason: String
    }

    static let departures: [String: Departure] = [
        "empty name component": Departure(
            buse: 404, distribution: 301,
            reason: "2.8's router cleans the path and redirects; buse refuses a name it would otherwise rewrite"),
        "dot-dot name component": Departure(
            buse: 404, distribution: 301, reason: "2.8's router cleans `..` out of the path and redirects; buse refuses"),
        "name component of 256 bytes": Departure(
            buse: 404, distribution: 500, reason: "2.8 fails with UNKNOWN on a name over 255 bytes; buse answers NAME_INVALID"),
        "invalid tag in a PUT": Departure(
            buse: 400, distribution: 404,
            reason: "buse's choice: a PUT is told MANIFEST_INVALID; 2.8's router matches no route for the tag"),
        "monolithic POST": Departure(
            buse: 201, distribution: 202, reason: "2.8 ignores `?digest=` on POST and opens a session (spec end-4b: 201)"),
        "monolithic POST with a lying digest": Departure(
            buse: 400, distribution: 202, reason: "2.8 ignores `?digest=` on POST, so it never checks it"),
        "s1 after its failed PUT": Departure(
            buse: 404, distribution: 204,
            reason: "2.8 keeps a session whose final PUT failed its digest; the spec has the client treat it as failed, "
                + "and buse drops it so nothing partial stays"),
        "out-of-order chunk of s4": Departure(
            buse: 416, distribution: 202, reason: "2.8 accepts a chunk that does not start at the session's end (spec: 416)"),
        "s5's first location replaying chunk 0-99": Departure(
            buse: 416, distribution: 404,
            reason: "2.8 binds the offset into the URL's `_state` and answers a stale one 404; spec: 416 with the current Range"),
        "status at s5's first location": Departure(
            buse: 204, distribution: 404,
            reason: "a stale `_state` is 404 on 2.8; buse's URL carries only the session id (spec: 204 with Range)"),
        "chunk shorter than its range": Departure(
            buse: 400, distribution: 202, reason: "2.8 does not check Content-Length against Content-Range (buse: SIZE_INVALID)"),
        "malformed Content-Range": Departure(
            buse: 416, distribution: 202, reason: "2.8 ignores a Content-Range it cannot parse (spec: 416)"),
        "malformed range": Departure(
            buse: 200, distribution: 416,
            reason: "buse's choice (RFC 9110 lets a server ignore Range): a Range it cannot parse gets the whole blob"),
        "tags of a repository with only blobs": Departure(
            buse: 200, distribution: 404,
            reason: "buse's choice: a repository exists once it holds a blob (empty tag list); 2.8 knows one only by its tags"),
        "manifest by digest with an invalid tag": Departure(
            buse: 400, distribution: 201, reason: "2.8 ignores `?tag=` (spec after v1.1.1); buse validates it: TAG_INVALID"),
        "GET manifest by a tag from the query": Departure(
            buse: 200, distribution: 404, reason: "2.8 ignores `?tag=`, so the tag was never created"),
        "GET an OCI manifest without Accept": Departure(
            buse: 200, distribution: 404,
            reason: "2.8 hides an OCI manifest from a client whose Accept lacks the OCI type; the spec has no such rule"),
        "tags with a negative n": Departure(
            buse: 400, distribution: 200, reason: "2.8 ignores `n` and `last` on tags lists"),
        "catalog with a non-number n": Departure(
            buse: 400, distribution: 200, reason: "2.8 takes a bad `n` as its default page size"),
        "catalog past 2.8's page limit": Departure(
            buse: 200, distribution: 400,
            reason: "buse's choice: `n` over 1000 is clamped (the spec lets a page hold fewer than n); 2.8.2 refuses it"),
        "referrers of m1": Departure(buse: 200, distribution: 404, reason: "2.8 has no referrers API (spec end-12a)"),
        "mount without from": Departure(
            buse: 201, distribution: 202,
            reason: "the spec's automatic mount (end-11 without `from`): buse links a blob it holds; 2.8 starts a session"),
        "oversized manifest": Departure(
            buse: 413, distribution: 400, reason: "2.8 answers MANIFEST_INVALID to a manifest over its limit (spec: 413)"),
        "DELETE a tag": Departure(
            buse: 202, distribution: 400, reason: "2.8 answers DIGEST_INVALID to a DELETE by tag (spec end-9 allows tags)"),
    ]

    @Test(.timeLimit(.minutes(10)))
    func buseAndDistributionAnswerTheSameRequestsAlike() async throws {
        let directory = try TemporaryDirectory()
        let content = try await DifferentialContent.make(in: directory)
        let steps = Self.steps(content)
        let labels = steps.map(\.label)
        #expect(Set(labels).count == labels.count, "step labels must be unique")
        #expect(Set(Self.departures.keys).isSubset(of: labels), "a departure names no step")

        let buse = try await RegistryProcess(in: directory)
        let distribution = try await DockerRegistryProcess(in: directory)
        let fromBuse = try await Self.play(steps, against: buse.address, in: directory)
        let fromDistribution = try await Self.play(steps, against: distribution.address, in: directory)

        var report: [String] = []
        for (index, step) in steps.enumerated() {
            let (ours, theirs) = (fromBuse[index], fromDistribution[index])
            let line = "\(step.label): buse \(ours.status) \(ours.errorCode ?? ""), 2.8 \(theirs.status) \(theirs.errorCode ?? "")"
            report.append(line)
            if let departure = Self.departures[step.label] {
                #expect(
                    ours.status == departure.buse && theirs.status == departure.distribution,
                    "\(line); the departure table says buse \(departure.buse), 2.8 \(departure.distribution)")
            } else {
                #expect(ours.status == theirs.status, "\(line)")
            }
            if ours.status == theirs.status, let ourCode = ours.errorCode, let theirCode = theirs.errorCode {
                let expected = Self.codeDepartures[step.label].map { ($0.buse, $0.distribution) } ?? (theirCode, theirCode)
                #expect(ourCode == expected.0 && theirCode == expected.1, "\(line): error codes")
            }
            if step.sameBody, ours.status == theirs.status {
                #expect(ours.body == theirs.body, "\(step.label): the two servers sent different bytes")
            }
            #expect(ours.status < 500, "\(line): buse must never answer a client's mistake with a 5xx")
            #expect(!ours.truncated, "\(line): buse's body is shorter than its Content-Length")
        }
        print("registry differential, \(steps.count) steps:\n" + report.joined(separator: "\n"))
        try Self.expectListingDepartures(steps, fromBuse, fromDistribution)
        #expect(await buse.stop() == .exit(0), "\(buse.log)")
        #expect(await distribution.stop() != nil, "docker-registry ignored SIGTERM")
    }

    /// Where both send the same status with different error codes. Each
    /// is a code that says more than 2.8's.
    static let codeDepartures: [String: (buse: String, distribution: String, reason: String)] = [
        "uppercase name": ("NAME_INVALID", "NAME_UNKNOWN", "2.8 looks the invalid name up; buse says it cannot exist"),
        "unknown algorithm": ("UNSUPPORTED", "DIGEST_INVALID", "the spec's code for an algorithm the registry does not support"),
        "malformed upload id": (
            "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID", "no session can have that id; 2.8 fails to decode its `_state`"
        ),
    ]

    /// The listing departures show in the bodies, not the statuses: 2.8
    /// ignores `n` (whole list, no `Link`) and lists tags in directory order;
    /// buse pages with a `Link` and sorts.
    static func expectListingDepartures(
        _ steps: [Step], _ fromBuse: [HTTPExchange.Answer], _ fromDistribution: [HTTPExchange.Answer]
    ) throws {
        func tags(_ answers: [HTTPExchange.Answer], _ label: String) throws -> (tags: [String], link: String?) {
            guard let index = steps.firstIndex(where: { $0.label == label }) else { throw InteropError("no step \(label)") }
            let object = try JSONSerialization.jsonObject(with: Data(answers[index].body)) as? [String: Any]
            return (object?["tags"] as? [String] ?? [], answers[index].headers["link"])
        }
        // 2.8 never created t1 and t2 (it ignores `?tag=`).
        #expect(try tags(fromBuse, "tags list").tags == ["t1", "t2", "v1", "v2"])
        #expect(try tags(fromDistribution, "tags list").tags.sorted() == ["v1", "v2"])
        let ourPage = try tags(fromBuse, "tags page")
        #expect(ourPage.tags == ["t1"] && ourPage.link == #"</v2/diff/app/tags/list?n=1&last=t1>; rel="next""#, "\(ourPage)")
        let theirPage = try tags(fromDistribution, "tags page")
        #expect(theirPage.tags.sorted() == ["v1", "v2"] && theirPage.link == nil, "2.8 now honours n: \(theirPage)")
        #expect(try tags(fromBuse, "tags page after last").tags == ["t2"])
        // Over a real connection, the tags a PUT by digest stored come back as OCI-Tag.
        if let put = steps.firstIndex(where: { $0.label == "manifest by digest with tags" }) {
            #expect(fromBuse[put].headers["oci-tag"] == "t1, t2")
            #expect(fromDistribution[put].headers["oci-tag"] == nil)
        }
    }

    /// A root buse wrote (skopeo pushed a multi-layer image) is served by 2.8.
    @Test(.timeLimit(.minutes(10)))
    func distributionServesARootBuseWrote() async throws {
        let directory = try TemporaryDirectory()
        let layout = try await Self.image(in: directory)
        let root = directory.file("root")
        let buse = try await RegistryProcess(in: directory, root: root)
        try await Self.skopeo(["copy", "--dest-tls-verify=false", "oci:\(layout):v1", "docker://\(buse.address)/team/app:v1"], directory)
        #expect(await buse.stop() == .exit(0), "\(buse.log)")
        let distribution = try await DockerRegistryProcess(in: directory, root: root)
        try await Self.expectPullIdentical(to: layout, from: distribution.address, log: distribution.log, in: directory)
        #expect(await distribution.stop() != nil, "docker-registry ignored SIGTERM")
    }

    /// A root 2.8 wrote is served by buse.
    @Test(.timeLimit(.minutes(10)))
    func buseServesARootDistributionWrote() async throws {
        let directory = try TemporaryDirectory()
        let layout = try await Self.image(in: directory)
        let root = directory.file("root")
        let distribution = try await DockerRegistryProcess(in: directory, root: root)
        try await Self.skopeo(
            ["copy", "--dest-tls-verify=false", "oci:\(layout):v1", "docker://\(distribution.address)/team/app:v1"], directory)
        #expect(await distribution.stop() != nil, "docker-registry ignored SIGTERM")
        let buse = try await RegistryProcess(in: directory, root: root)
        try await Self.expectPullIdentical(to: layout, from: buse.address, log: buse.log, in: directory)
        #expect(await buse.stop() == .exit(0), "\(buse.log)")
    }

    /// Three layers: 1 MiB, 64 KiB and a few bytes.
    static func image(in directory: TemporaryDirectory) async throws -> String {
        let layout = directory.file("image")
        try await RegistryImageLayout.build(at: layout, tag: "v1", layerSizes: [1 << 20, 64 << 10, 10], in: directory)
        return layout
    }

    /// skopeo pulls `team/app:v1` from `address`: the same manifest and blob
    /// digests as the layout that was pushed, and the tag is listed.
    static func expectPullIdentical(
        to layout: String, from address: String, log: @autoclosure () -> String, in directory: TemporaryDirectory
    ) async throws {
        let pulled = directory.file("pulled")
        try await skopeo(["copy", "--src-tls-verify=false", "docker://\(address)/team/app:v1", "oci:\(pulled):v1"], directory)
        let manifest = try RegistryImageLayout.manifestDigest(of: layout, tag: "v1")
        #expect(try RegistryImageLayout.manifestDigest(of: pulled, tag: "v1") == manifest, "\(log())")
        let blobs = try RegistryImageLayout.blobDigests(of: layout, manifest: manifest)
        #expect(blobs.count == 4)
        #expect(try RegistryImageLayout.blobDigests(of: pulled, manifest: manifest) == blobs)
        let tags = try await skopeo(["list-tags", "--tls-verify=false", "docker://\(address)/team/app"], directory)
        #expect(tags.standardOutput.contains("\"v1\""), "\(tags)")
    }

    @discardableResult
    static func skopeo(_ arguments: [String], _ directory: TemporaryDirectory) async throws -> RunResult {
        try await runChecked("skopeo", arguments, in: directory, timeout: .seconds(120))
    }

    /// Sends `steps` in order; `save` keeps a step's `Location` for later
    /// steps (the two servers' upload URLs differ: 2.8 adds `?_state=`).
    static func play(_ steps: [Step], against address: String, in directory: TemporaryDirectory) async throws -> [HTTPExchange.Answer] {
        var locations: [String: String] = [:]
        var answers: [HTTPExchange.Answer] = []
        for step in steps {
            var exchange = step.exchange
            if let session = step.session {
                guard let location = locations[session] else { throw InteropError("\(step.label): no location saved as \(session)") }
                let query = exchange.target
                exchange.target = query.isEmpty ? location : location + (location.contains("?") ? "&" : "?") + query
            }
            let answer = try await exchange.send(to: address, in: directory)
            if let location = answer.headers["location"] {
                for name in step.save { locations[name] = location }
            }
            answers.append(answer)
        }
        return answers
    }

    /// One request of the sequence. With `session`, the target is a query to
    /// append to the `Location` saved under that name (empty for none).
    struct Step {
        let label: String
        let exchange: HTTPExchange
        var session: String? = nil
        var save: [String] = []
        /// Both servers must send the same bytes when they agree on the status.
        var sameBody = false

        init(
            _ label: String, _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
            session: String? = nil, save: [String] = [], sameBody: Bool = false
        ) {
            self.label = label
            exchange = HTTPExchange(method: method, target: target, headers: headers, body: body)
            self.session = session
            self.save = save
            self.sameBody = sameBody
        }
    }

    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"

    /// The sequence: discovery on an empty registry, malformed names,
    /// digests and references, every kind of upload (and the ways to get
    /// them wrong), mounts, ranges, manifests, listings, deletes.
    static func steps(_ content: DifferentialContent) -> [Step] {
        let digests = content.digests
        let app = "/v2/diff/app"
        let typed = [("Content-Type", ociManifest)]
        let accept = [("Accept", ociManifest)]
        let longName = String(repeating: "a", count: 256)
        return [
            Step("base", "GET", "/v2/"),
            Step("catalog of an empty registry", "GET", "/v2/_catalog"),
            Step("tags of an unknown repository", "GET", "\(app)/tags/list"),
            Step("HEAD unknown blob", "HEAD", "\(app)/blobs/\(digests.streamed)"),
            Step("GET unknown blob", "GET", "\(app)/blobs/\(digests.streamed)"),
            Step("GET unknown manifest by tag", "GET", "\(app)/manifests/v1", headers: accept),
            Step("HEAD unknown manifest by digest", "HEAD", "\(app)/manifests/\(digests.first)", headers: accept),
            Step("uppercase name", "GET", "/v2/Diff/app/tags/list"),
            Step("empty name component", "GET", "/v2/diff//app/tags/list"),
            Step("dot-dot name component", "GET", "/v2/diff/../app/tags/list"),
            Step("name component of 256 bytes", "GET", "/v2/\(longName)/tags/list"),
            Step("name starting with a dash", "GET", "/v2/-diff/tags/list"),
            Step("short digest", "GET", "\(app)/blobs/sha256:abc"),
            Step("unknown algorithm", "GET", "\(app)/blobs/md5:" + String(repeating: "a", count: 32)),
            Step("uppercase hex digest", "GET", "\(app)/blobs/sha256:" + String(repeating: "A", count: 64)),
            Step("invalid tag in a GET", "GET", "\(app)/manifests/.bad"),
            Step("invalid tag in a PUT", "PUT", "\(app)/manifests/.bad", headers: typed, body: content.first),
            Step("PATCH on a manifest", "PATCH", "\(app)/manifests/v1"),
            Step("unknown endpoint", "GET", "\(app)/unknown/x"),
            Step("malformed upload id", "GET", "\(app)/blobs/uploads/not-a-uuid"),
            Step("monolithic POST", "POST", "\(app)/blobs/uploads/?digest=\(digests.monolithic)", body: content.monolithic),
            Step("monolithic POST with a lying digest", "POST", "\(app)/blobs/uploads/?digest=\(digests.absent)", body: content.monolithic),
            // A streamed PATCH, then a PUT whose digest lies: the session is gone.
            Step("start s1", "POST", "\(app)/blobs/uploads/", save: ["s1"]),
            Step("streamed PATCH of s1", "PATCH", "", body: content.streamed, session: "s1", save: ["s1"]),
            Step("status of s1", "GET", "", session: "s1"),
            Step("PUT s1 with a lying digest", "PUT", "digest=\(digests.absent)", session: "s1"),
            Step("s1 after its failed PUT", "GET", "", session: "s1"),
            // A session finished by one PUT with the whole blob, then reused.
            Step("start s2", "POST", "\(app)/blobs/uploads/", save: ["s2"]),
            Step("PUT s2 with the whole blob", "PUT", "digest=\(digests.streamed)", body: content.streamed, session: "s2"),
            Step("status of s2 after its PUT", "GET", "", session: "s2"),
            Step("PATCH s2 after its PUT", "PATCH", "", body: content.streamed, session: "s2"),
            // Chunks in order, the last one with the PUT.
            Step("start s3", "POST", "\(app)/blobs/uploads/", save: ["s3"]),
            Step(
                "chunk 0-99 of s3", "PATCH", "", headers: [("Content-Range", "0-99")], body: content.chunk(0..<100), session: "s3",
                save: ["s3"]),
            Step(
                "chunk 100-199 of s3", "PATCH", "", headers: [("Content-Range", "100-199")], body: content.chunk(100..<200), session: "s3",
                save: ["s3"]),
            Step("status of s3", "GET", "", session: "s3"),
            Step(
                "PUT s3 with the last chunk", "PUT", "digest=\(digests.chunked)", headers: [("Content-Range", "200-299")],
                body: content.chunk(200..<300), session: "s3"),
            // A chunk out of order, then cancel.
            Step("start s4", "POST", "\(app)/blobs/uploads/", save: ["s4"]),
            Step(
                "chunk 0-99 of s4", "PATCH", "", headers: [("Content-Range", "0-99")], body: content.chunk(0..<100), session: "s4",
                save: ["s4"]),
            Step(
                "out-of-order chunk of s4", "PATCH", "", headers: [("Content-Range", "150-199")], body: content.chunk(150..<200),
                session: "s4", save: ["s4"]),
            Step("cancel s4", "DELETE", "", session: "s4"),
            Step("status of s4 after cancel", "GET", "", session: "s4"),
            Step("cancel s4 again", "DELETE", "", session: "s4"),
            // A client resuming from the first Location it was given.
            Step("start s5", "POST", "\(app)/blobs/uploads/", save: ["s5", "s5-first"]),
            Step(
                "chunk 0-99 of s5", "PATCH", "", headers: [("Content-Range", "0-99")], body: content.chunk(0..<100), session: "s5",
                save: ["s5"]),
            Step(
                "s5's first location replaying chunk 0-99", "PATCH", "", headers: [("Content-Range", "0-99")], body: content.chunk(0..<100),
                session: "s5-first"),
            Step("status at s5's first location", "GET", "", session: "s5-first"),
            Step("cancel s5", "DELETE", "", session: "s5"),
            // Ranges that lie about their chunk.
            Step("start s6", "POST", "\(app)/blobs/uploads/", save: ["s6"]),
            Step(
                "chunk shorter than its range", "PATCH", "", headers: [("Content-Range", "0-99")], body: content.chunk(0..<50),
                session: "s6",
                save: ["s6"]),
            Step(
                "malformed Content-Range", "PATCH", "", headers: [("Content-Range", "bytes 0-99/300")], body: content.chunk(0..<100),
                session: "s6", save: ["s6"]),
            Step("start s7", "POST", "\(app)/blobs/uploads/", save: ["s7"]),
            Step("PUT s7 without a digest", "PUT", "", session: "s7"),
            Step("PUT s7 with a malformed digest", "PUT", "digest=nope", session: "s7"),
            // Mounts, and the spec's fallback to a session.
            Step("mount from a repository that has it", "POST", "/v2/diff/other/blobs/uploads/?mount=\(digests.streamed)&from=diff/app"),
            Step("mount of an unknown blob", "POST", "/v2/diff/other/blobs/uploads/?mount=\(digests.absent)&from=diff/app"),
            Step("mount from an invalid name", "POST", "/v2/diff/other/blobs/uploads/?mount=\(digests.streamed)&from=BAD"),
            Step("mount of a malformed digest", "POST", "/v2/diff/other/blobs/uploads/?mount=nope&from=diff/app"),
            Step("mount without from", "POST", "/v2/diff/third/blobs/uploads/?mount=\(digests.streamed)"),
            // Reads and ranges.
            Step("HEAD blob", "HEAD", "\(app)/blobs/\(digests.streamed)"),
            Step("GET blob", "GET", "\(app)/blobs/\(digests.streamed)", sameBody: true),
            Step("GET chunked blob", "GET", "\(app)/blobs/\(digests.chunked)", sameBody: true),
            Step("GET mounted blob", "GET", "/v2/diff/other/blobs/\(digests.streamed)", sameBody: true),
            Step("GET blob of another repository", "GET", "/v2/diff/other/blobs/\(digests.chunked)"),
            Step("range 0-9", "GET", "\(app)/blobs/\(digests.streamed)", headers: [("Range", "bytes=0-9")], sameBody: true),
            Step("suffix range", "GET", "\(app)/blobs/\(digests.streamed)", headers: [("Range", "bytes=-5")], sameBody: true),
            Step("open range", "GET", "\(app)/blobs/\(digests.streamed)", headers: [("Range", "bytes=990-")], sameBody: true),
            Step("range past the end", "GET", "\(app)/blobs/\(digests.streamed)", headers: [("Range", "bytes=2000-3000")]),
            Step("malformed range", "GET", "\(app)/blobs/\(digests.streamed)", headers: [("Range", "bytes=abc")]),
            // The config, by a streamed PATCH and an empty PUT.
            Step("start s8", "POST", "\(app)/blobs/uploads/", save: ["s8"]),
            Step("streamed PATCH of the config", "PATCH", "", body: content.config, session: "s8", save: ["s8"]),
            Step("empty PUT of s8", "PUT", "digest=\(digests.config)", session: "s8"),
            Step("tags of a repository with only blobs", "GET", "\(app)/tags/list"),
            // Manifests.
            Step("manifest naming a missing blob", "PUT", "\(app)/manifests/missing", headers: typed, body: content.missing),
            Step("manifest that is not JSON", "PUT", "\(app)/manifests/junk", headers: typed, body: Array("not json".utf8)),
            Step("manifest by a lying digest", "PUT", "\(app)/manifests/\(digests.second)", headers: typed, body: content.first),
            Step("manifest by tag", "PUT", "\(app)/manifests/v1", headers: typed, body: content.first),
            Step("manifest by digest", "PUT", "\(app)/manifests/\(digests.first)", headers: typed, body: content.first),
            Step("second manifest by tag", "PUT", "\(app)/manifests/v2", headers: typed, body: content.second),
            Step(
                "manifest by digest with tags", "PUT", "\(app)/manifests/\(digests.second)?tag=t1&tag=t2", headers: typed,
                body: content.second),
            Step(
                "manifest by digest with an invalid tag", "PUT", "\(app)/manifests/\(digests.third)?tag=.bad", headers: typed,
                body: content.third),
            Step("GET manifest by tag", "GET", "\(app)/manifests/v1", headers: accept, sameBody: true),
            Step("GET an OCI manifest without Accept", "GET", "\(app)/manifests/v1"),
            Step("HEAD manifest by digest", "HEAD", "\(app)/manifests/\(digests.first)", headers: accept),
            Step("GET manifest by a tag from the query", "GET", "\(app)/manifests/t1", headers: accept),
            Step("tags list", "GET", "\(app)/tags/list"),
            Step("tags page", "GET", "\(app)/tags/list?n=1"),
            Step("tags page after last", "GET", "\(app)/tags/list?n=1&last=t1"),
            Step("tags with a negative n", "GET", "\(app)/tags/list?n=-1"),
            Step("catalog", "GET", "/v2/_catalog"),
            Step("catalog page", "GET", "/v2/_catalog?n=1"),
            Step("catalog with a non-number n", "GET", "/v2/_catalog?n=ten"),
            Step("catalog past 2.8's page limit", "GET", "/v2/_catalog?n=5000"),
            Step("referrer with a subject", "PUT", "\(app)/manifests/\(digests.referrer)", headers: typed, body: content.referrer),
            Step("referrers of m1", "GET", "\(app)/referrers/\(digests.first)"),
            Step("oversized manifest", "PUT", "\(app)/manifests/big", headers: typed, body: content.oversized),
            // Deletes.
            Step("DELETE a tag", "DELETE", "\(app)/manifests/v1"),
            Step("DELETE a manifest by digest", "DELETE", "\(app)/manifests/\(digests.first)"),
            Step("GET a deleted manifest", "GET", "\(app)/manifests/\(digests.first)", headers: accept),
            Step("DELETE a deleted manifest", "DELETE", "\(app)/manifests/\(digests.first)"),
            Step("DELETE a manifest by a malformed digest", "DELETE", "\(app)/manifests/sha256:zz"),
            Step("DELETE a blob", "DELETE", "\(app)/blobs/\(digests.streamed)"),
            Step("GET a deleted blob", "GET", "\(app)/blobs/\(digests.streamed)"),
            Step("DELETE a deleted blob", "DELETE", "\(app)/blobs/\(digests.streamed)"),
            Step("DELETE an unknown blob", "DELETE", "\(app)/blobs/\(digests.absent)"),
        ]
    }
}
