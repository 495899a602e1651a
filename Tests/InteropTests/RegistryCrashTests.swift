import Foundation
import TestSupport
import Testing

/// `kill -9` of `buse registry serve` at seeded points of concurrent pushes.
///
/// Each run starts the registry on a fresh root, lets 3 to 5 pushers upload
/// blobs every way clients do (monolithic, POST then PUT, one streamed
/// PATCH, chunked PATCHes) and put manifests, and sends SIGKILL once the
/// traffic passes a seeded number of bytes (a point in the traffic, not in
/// time, so a loaded machine kills at the same point; often mid-body).
///
/// What the registry promises after a crash, and this checks:
/// - every blob and manifest answered 201 is there, whole, under its
///   digest, with its repository's link (and the manifest's tag);
/// - no `data` file in the blob store holds anything but its digest's
///   content (a crash never leaves a partial blob visible);
/// - before a restart, fsck finds at most crash leftovers: temp files and
///   blob directories without `data`, which nothing serves;
/// - a restart removes those, fsck is then clean, and the restarted
///   server serves every acknowledged blob and manifest;
/// - every upload session the kill interrupted either resumes (GET answers
///   204 with at least the bytes acknowledged, the client sends the rest,
///   the blob is whole) or is gone because its commit had stored the blob.
///
/// `BUSE_REGISTRY_CRASH_RUNS` sets the number of runs (50 by default;
/// `make soak` runs more), `BUSE_REGISTRY_CRASH_SEED` the first seed.
@Suite struct RegistryCrashTests {
    static let environment = ProcessInfo.processInfo.environment
    static let runs = environment["BUSE_REGISTRY_CRASH_RUNS"].flatMap(Int.init) ?? 50
    static let firstSeed = environment["BUSE_REGISTRY_CRASH_SEED"].flatMap(UInt64.init) ?? 1

    @Test func everyAcknowledgedPushSurvivesKillNineAtSeededPoints() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        var (killedMidway, withLeftovers, acknowledged, interrupted, resumed) = (0, 0, 0, 0, 0)
        for run in 0..<Self.runs {
            let seed = Self.firstSeed + UInt64(run)
            let outcome = try await crashAndCheck(seed: seed)
            if outcome.acknowledged < outcome.planned { killedMidway += 1 }
            if outcome.leftovers { withLeftovers += 1 }
            acknowledged += outcome.acknowledged
            interrupted += outcome.interrupted
            resumed += outcome.resumed
        }
        print(
            "registry crash: \(Self.runs) runs from seed \(Self.firstSeed) in \(started.duration(to: clock.now)): "
                + "\(killedMidway) killed mid-push, \(acknowledged) pushes acknowledged and checked, "
                + "\(withLeftovers) left crash leftovers that the restart removed, "
                + "\(resumed) of \(interrupted) interrupted upload sessions resumed (the rest committed just before the kill)")
        // The kill points must mostly fall inside the pushes, or the test proves little.
        #expect(killedMidway * 2 >= Self.runs, "only \(killedMidway) of \(Self.runs) runs were killed before every push finished")
    }

    /// One run; returns how many 201s came, how many the plan had, whether
    /// fsck found crash leftovers before the restart, and how many upload
    /// sessions the kill interrupted and how many of those resumed.
    private func crashAndCheck(
        seed: UInt64
    ) async throws -> (acknowledged: Int, planned: Int, leftovers: Bool, interrupted: Int, resumed: Int) {
        let directory = try TemporaryDirectory()
        let plan = CrashPlan(seed: seed)
        var generator = SeededGenerator(seed: seed ^ 0x6b69_6c6c)
        let registry = try await RegistryProcess(in: directory)
        let killSwitch = KillSwitch(threshold: Int.random(in: 1...plan.cost, using: &generator), process: registry.process)
        let acknowledgements = Acknowledgements()
        let wire = HTTPWire(port: registry.port)
        await runOnThreads(plan.pushers.count) { index in
            CrashPusher(wire: wire, pusher: plan.pushers[index], killSwitch: killSwitch, acknowledgements: acknowledgements).run()
        }
        killSwitch.fire()
        let ended = await registry.process.waitForTermination(timeout: .seconds(120))
        let context = "seed \(seed) (BUSE_REGISTRY_CRASH_SEED=\(seed) BUSE_REGISTRY_CRASH_RUNS=1 reproduces it)"
        #expect(ended == .signal(SIGKILL), "\(context): the registry \(ended.map { "\($0)" } ?? "did not end")\n\(registry.log)")
        #expect(acknowledgements.problems.isEmpty, "\(context): \(acknowledgements.problems)\n\(registry.log)")

        let store = CrashStoreView(root: registry.root)
        for entry in acknowledgements.entries {
            for problem in store.problems(with: entry) { Issue.record("\(context): after the kill, \(problem)") }
        }
        for problem in store.blobsNotMatchingTheirDigest() { Issue.record("\(context): partial or wrong blob visible: \(problem)") }
        let before = try await run(try Tool.buse(), ["registry", "fsck", "--root", registry.root], in: directory)
        let findings = before.standardOutput.split(separator: "\n").filter { !$0.hasPrefix("fsck: ") }
        let unexpected = findings.filter { !$0.hasPrefix("crash leftover ") && !$0.hasPrefix("partial blob: ") }
        #expect(unexpected.isEmpty, "\(context): fsck before the restart found more than crash leftovers:\n\(before)")

        let restarted = try await RegistryProcess(in: directory, root: registry.root)
        let after = try await run(try Tool.buse(), ["registry", "fsck", "--root", registry.root], in: directory)
        #expect(after.termination == .exit(0) && after.standardOutput.contains(": clean"), "\(context): fsck after the restart:\n\(after)")
        let served = HTTPWire(port: restarted.port)
        for entry in acknowledgements.entries {
            for problem in try await servedProblems(entry, served) { Issue.record("\(context): after the restart, \(problem)") }
        }
        var resumed = 0
        for upload in acknowledgements.interrupted {
            switch try await runOnThread({ try Self.resume(upload, served) }) {
            case .resumed: resumed += 1
            case .gone:
                // Only a commit removes a session (nothing here lies about a
                // digest, and none is a day old), and it renames the blob
                // into the store first: the blob must be there.
                if !store.hasBlob(upload.blob.digest) {
                    Issue.record("\(context): session \(upload.location) is gone but its blob \(upload.blob.digest) is not stored")
                }
            case .failed(let problem):
                Issue.record("\(context): resuming \(upload.location) (\(upload.acknowledged) bytes acknowledged): \(problem)")
            }
        }
        let stopped = await restarted.stop()
        #expect(stopped == .exit(0), "\(context): \(restarted.log)")
        let planned = plan.pushers.reduce(0) { $0 + $1.images.reduce(0) { $0 + 2 + $1.layers.count } }
        return (acknowledgements.entries.count, planned, !findings.isEmpty, acknowledgements.interrupted.count, resumed)
    }

    /// What the restarted server gets wrong about one acknowledged push.
    private func servedProblems(_ entry: Acknowledgements.Entry, _ wire: HTTPWire) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.servedProblems(entry, wire) })
            }
        }
    }

    enum Resumption { case resumed, gone, failed(String) }

    /// Resumes an upload session the kill interrupted, as a client does:
    /// GET answers 204 with the bytes held (at least those acknowledged:
    /// a killed chunk may have left more, never less), the client sends the
    /// rest and the final PUT, and the blob is whole. A session that is
    /// unknown (404: its final PUT committed it just before the kill) is
    /// fine too when the commit stored the blob (the caller checks).
    static func resume(_ upload: Acknowledgements.Interrupted, _ wire: HTTPWire) throws -> Resumption {
        let status = try wire.exchange("GET", upload.location)
        if status.status == 404 { return .gone }
        guard status.status == 204, let range = status.headers["range"], range.hasPrefix("0-"), let end = Int(range.dropFirst(2)) else {
            return .failed("GET answered \(status) with Range \(status.headers["range"] ?? "none")")
        }
        // `0-0` is both an empty upload and a one-byte one.
        let candidates = end == 0 ? [0, 1] : [end + 1]
        guard candidates.last! >= upload.acknowledged, candidates.first! <= upload.blob.bytes.count else {
            return .failed("Range \(range) does not fit the \(upload.acknowledged) bytes acknowledged of \(upload.blob.bytes.count)")
        }
        for held in candidates where held <= upload.blob.bytes.count {
            var location = upload.location
            if held < upload.blob.bytes.count {
                let reply = try wire.exchange(
                    "PATCH", location,
                    headers: [("Content-Range", "\(held)-\(upload.blob.bytes.count - 1)"), ("Content-Type", "application/octet-stream")],
                    body: Array(upload.blob.bytes[held...]))
                if reply.status == 416 && candidates.count > 1 { continue }
                guard reply.status == 202, let next = reply.headers["location"] else { return .failed("PATCH from \(held): \(reply)") }
                location = next
            }
            let put = try wire.exchange("PUT", location + "?digest=\(upload.blob.digest)")
            guard put.status == 201 else { return .failed("final PUT: \(put)") }
            let pulled = try wire.exchange("GET", "/v2/\(upload.repository)/blobs/\(upload.blob.digest)")
            guard pulled.status == 200, sha256Digest(pulled.body) == upload.blob.digest else { return .failed("pull: \(pulled)") }
            return .resumed
        }
        return .failed("no offset in \(candidates) was accepted")
    }

    private static func servedProblems(_ entry: Acknowledgements.Entry, _ wire: HTTPWire) throws -> [String] {
        switch entry {
        case .blob(let repository, let blob):
            let reply = try wire.exchange("GET", "/v2/\(repository)/blobs/\(blob.digest)")
            guard reply.status == 200, sha256Digest(reply.body) == blob.digest else {
                return ["blob \(repository)@\(blob.digest): \(reply)"]
            }
        case .manifest(let repository, let image):
            let reply = try wire.exchange(
                "GET", "/v2/\(repository)/manifests/\(image.tag)",
                headers: [("Accept", "application/vnd.oci.image.manifest.v1+json")])
            guard reply.status == 200, reply.body == image.manifest,
                reply.headers["docker-content-digest"] == sha256Digest(image.manifest)
            else { return ["manifest \(repository):\(image.tag): \(reply)"] }
        }
        return []
    }
}

/// The registry's root read directly, in distribution's layout.
struct CrashStoreView {
    let root: String
    var base: String { root + "/docker/registry/v2" }

    func blobData(_ digest: String) -> String {
        let hex = digest.split(separator: ":")[1]
        return "\(base)/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    private func link(_ path: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the store holds `digest` whole.
    func hasBlob(_ digest: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: blobData(digest)) else { return false }
        return sha256Digest(data) == digest
    }

    /// What is missing or wrong on disk for one acknowledged push.
    func problems(with entry: Acknowledgements.Entry) -> [String] {
        var problems: [String] = []
        switch entry {
        case .blob(let repository, let blob):
            let hex = blob.digest.split(separator: ":")[1]
            if !hasBlob(blob.digest) { problems.append("blob \(blob.digest) is missing or wrong") }
            if link("\(base)/repositories/\(repository)/_layers/sha256/\(hex)/link") != blob.digest {
                problems.append("\(repository) has no layer link to \(blob.digest)")
            }
        case .manifest(let repository, let image):
            let digest = sha256Digest(image.manifest)
            let hex = digest.split(separator: ":")[1]
            if !hasBlob(digest) { problems.append("manifest blob \(digest) is missing or wrong") }
            let manifests = "\(base)/repositories/\(repository)/_manifests"
            if link("\(manifests)/revisions/sha256/\(hex)/link") != digest {
                problems.append("\(repository) has no revision \(digest)")
            }
            if link("\(manifests)/tags/\(image.tag)/current/link") != digest {
                problems.append("\(repository):\(image.tag) is not \(digest)")
            }
        }
        return problems
    }

    /// Every `data` file in the blob store whose content is not its digest's.
    func blobsNotMatchingTheirDigest() -> [String] {
        let blobs = base + "/blobs/sha256"
        var wrong: [String] = []
        for prefix in (try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? [] {
            for hex in (try? FileManager.default.contentsOfDirectory(atPath: blobs + "/" + prefix)) ?? [] {
                let path = "\(blobs)/\(prefix)/\(hex)/data"
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                if sha256Digest(data) != "sha256:" + hex { wrong.append(path) }
            }
        }
        return wrong
    }
}
