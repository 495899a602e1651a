import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RegistryCore
import RegistryHTTP
import RegistryStorage
import Synchronization
import TestSupport
import Testing

/// 10,000 seeded malformed requests on raw sockets against the registry
/// served in process: hostile names (`..`, `//`, uppercase, 256-character
/// components), hostile tags (129 characters, a leading `.` or `-`),
/// digests that lie or do not parse, `Content-Length` that lies both ways,
/// bodies that stop mid-way, manifests over 4 MiB or not JSON, and random
/// methods, paths, headers and query strings.
///
/// What must hold: no answer is a 5xx (every one of these is the client's
/// mistake); an error with a body is the spec's JSON with one of its codes,
/// and the targeted cases get the exact code; nothing appears beside the
/// root; every `data` file in the blob store holds its digest's content;
/// fsck is clean; and a well-behaved client pushing and pulling meanwhile
/// never notices. `BUSE_REGISTRY_FUZZ_SEED` and `…_REQUESTS` override the
/// seed and the count.
@Suite struct BadInputFuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seed = environment["BUSE_REGISTRY_FUZZ_SEED"].flatMap(UInt64.init) ?? 12
    static let requests = environment["BUSE_REGISTRY_FUZZ_REQUESTS"].flatMap(Int.init) ?? 10_000
    static let threads = 4

    @Test func malformedRequestsGetClientErrorsAndHarmNothing() async throws {
        let parent = try FuzzDirectory()
        let root = parent.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        var quiet = Logger(label: "registry-fuzz")
        quiet.logLevel = .critical
        let server = try RegistryServer(.init(root: root, port: 0), logger: quiet)
        let before = try parent.snapshot(excluding: "root")
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = FuzzOutcome()
        try await TestRegistry.live(server) { client in
            guard let port = client.port else { throw TestFailure("the live test client has no port") }
            let wire = HTTPWire(port: port)
            // HTTPWire blocks: never on the cooperative pool, which the
            // in-process server needs to answer it.
            let fixtures = try await runOnThread { try FuzzFixtures.push(through: wire) }
            await runOnThreads(Self.threads + 1) { thread in
                if thread == Self.threads {
                    WellBehavedClient(wire: wire, outcome: outcome).run()
                    return
                }
                var generator = SeededGenerator(seed: Self.seed &+ UInt64(thread) &* 0x9E37_79B9)
                for index in stride(from: thread, to: Self.requests, by: Self.threads) {
                    let request = FuzzRequest.make(&generator, fixtures)
                    let reply = Result { try wire.send(request.head, request.body, halfClose: request.halfClose) }
                    outcome.check(request, index: index, reply: reply)
                }
                outcome.finishFuzzer()
            }
        }
        let elapsed = started.duration(to: clock.now)
        let context = "seed \(Self.seed) (BUSE_REGISTRY_FUZZ_SEED reproduces it)"
        for problem in outcome.problems.prefix(20) { Issue.record("\(context): \(problem)") }
        #expect(outcome.problems.isEmpty, "\(context): \(outcome.problems.count) problems")
        #expect(outcome.wellBehavedRounds >= 1, "the well-behaved client completed a round meanwhile")
        #expect(try parent.snapshot(excluding: "root") == before, "something was written beside the root")
        let wrong = try FuzzDirectory.blobsNotMatchingTheirDigest(root)
        #expect(wrong.isEmpty, "partial or wrong blobs visible: \(wrong)")
        let check = try Fsck().run(server.store)
        #expect(check.isClean, "\(check.findings)")
        print(
            "registry fuzz: \(Self.requests) requests in \(elapsed), statuses \(outcome.statusCounts), "
                + "\(outcome.wellBehavedRounds) clean push/pull rounds meanwhile")
    }
}

/// A temporary directory holding the registry root, so that anything
/// written outside the root lands here where the test can see it.
final class FuzzDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/registry-fuzz-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard created != nil else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Every path under the directory but `excluding`'s subtree, with sizes.
    func snapshot(excluding: String) throws -> [String: Int] {
        var entries: [String: Int] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            guard relative != excluding, !relative.hasPrefix(excluding + "/") else { continue }
            let attributes = try FileManager.default.attributesOfItem(atPath: path + "/" + relative)
            entries[relative] = (attributes[.size] as? Int) ?? 0
        }
        return entries
    }

    /// Every `data` file of the blob store whose content is not its digest's.
    static func blobsNotMatchingTheirDigest(_ root: String) throws -> [String] {
        let blobs = root + "/docker/registry/v2/blobs/sha256"
        var wrong: [String] = []
        for prefix in (try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? [] {
            for hex in try FileManager.default.contentsOfDirectory(atPath: blobs + "/" + prefix) {
                let path = "\(blobs)/\(prefix)/\(hex)/data"
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                if sha256(Array(data)) != "sha256:" + hex { wrong.append(path) }
            }
        }
        return wrong
    }
}

/// What the fuzzer saw: problems, statuses, the well-behaved client's rounds.
final class FuzzOutcome: Sendable {
    private struct State {
        var problems: [String] = []
        var statuses: [Int: Int] = [:]
        var fuzzersLeft = BadInputFuzzTests.threads
        var wellBehavedRounds = 0
    }

    private let state = Mutex(State())

    var problems: [String] { state.withLock { $0.problems } }
    var wellBehavedRounds: Int { state.withLock { $0.wellBehavedRounds } }
    var fuzzersDone: Bool { state.withLock { $0.fuzzersLeft == 0 } }
    var statusCounts: String {
        state.withLock { $0.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ") }
    }

    func problem(_ text: String) { state.withLock { $0.problems.append(text) } }
    func finishFuzzer() { state.withLock { $0.fuzzersLeft -= 1 } }
    func wellBehavedRound() { state.withLock { $0.wellBehavedRounds += 1 } }

    /// Judges one reply against what its request expects.
    func check(_ request: FuzzRequest, index: Int, reply result: Result<HTTPWire.Reply?, any Error>) {
        let what = "request \(index) (\(request.kind)): \(String(decoding: request.head.prefix(160), as: UTF8.self).debugDescription)"
        let reply: HTTPWire.Reply?
        switch result {
        case .success(let value): reply = value
        case .failure(let error):
            problem("\(what): \(error)")
            return
        }
        guard let reply else {
            if !request.mayGoUnanswered { problem("\(what): no reply") }
            return
        }
        state.withLock { $0.statuses[reply.status, default: 0] += 1 }
        if reply.status >= 500 { problem("\(what): \(reply)") }
        if let codes = request.codes, !(reply.status >= 400 && reply.status < 500) {
            problem("\(what): expected a 4xx with \(codes.sorted()), got \(reply)")
        }
        guard reply.status >= 400, !reply.body.isEmpty else {
            // A path no route matches (`a//b` included) is a bare 404, a
            // method no route has a 405; HEAD answers have no body.
            let bare = [404, 405].contains(reply.status) || request.head.starts(with: Array("HEAD".utf8))
            if let codes = request.codes, !codes.isEmpty, reply.status >= 400, !bare {
                problem("\(what): expected \(codes.sorted()) in a JSON body, got \(reply)")
            }
            return
        }
        guard let code = Self.errorCode(reply.body), ErrorCode(rawValue: code) != nil else {
            problem("\(what): an error body that is not the spec's JSON: \(reply)")
            return
        }
        if let codes = request.codes, !codes.isEmpty, !codes.contains(code) { problem("\(what): expected \(codes.sorted()), got \(reply)") }
    }

    private static func errorCode(_ body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let errors = object["errors"] as? [[String: Any]], let first = errors.first
        else { return nil }
        return first["code"] as? String
    }
}

/// Pushes and pulls a small image in a loop until the fuzzers are done; any
/// failure is a problem: malformed traffic must not disturb other clients.
struct WellBehavedClient {
    let wire: HTTPWire
    let outcome: FuzzOutcome

    func run() {
        var round = 0
        repeat {
            do {
                try FuzzFixtures.pushAndPull(through: wire, round: round)
                outcome.wellBehavedRound()
            } catch {
                outcome.problem("the well-behaved client, round \(round): \(error)")
                return
            }
            round += 1
        } while !outcome.fuzzersDone
    }
}
