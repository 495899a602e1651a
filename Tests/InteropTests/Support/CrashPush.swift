import Crypto
import Foundation
import Synchronization
import TestSupport

/// What the crash test's pushers send, decided by a seed before anything
/// runs, so that the total amount of traffic is known and the kill point
/// can be chosen uniformly inside it.
struct CrashPlan: Sendable {
    /// How a blob is uploaded: the four ways clients do it.
    enum Mode: Sendable, CaseIterable {
        /// `POST ?digest=` with the body.
        case monolithic
        /// `POST`, then `PUT ?digest=` with the body.
        case postThenPut
        /// `POST`, one `PATCH` without `Content-Range` (skopeo's way), `PUT ?digest=`.
        case streamed
        /// `POST`, `PATCH`es with `Content-Range`, `PUT ?digest=`.
        case chunked(pieces: Int)

        static let allCases: [Mode] = [.monolithic, .postThenPut, .streamed, .chunked(pieces: 3)]
    }

    struct Blob: Sendable {
        let bytes: [UInt8]
        let digest: String
        let mode: Mode

        /// Progress units its upload costs: 100 per request plus the body.
        var cost: Int {
            let requests =
                switch mode {
                case .monolithic: 1
                case .postThenPut: 2
                case .streamed: 3
                case .chunked(let pieces): 2 + Self.pieces(bytes.count, pieces).count
                }
            return requests * 100 + bytes.count
        }

        static func pieces(_ length: Int, _ count: Int) -> [Range<Int>] {
            guard length > 0 else { return [] }
            let step = max(1, (length + count - 1) / count)
            return stride(from: 0, to: length, by: step).map { $0..<min($0 + step, length) }
        }
    }

    struct Image: Sendable {
        let tag: String
        let config: Blob
        let layers: [Blob]
        let manifest: [UInt8]

        var cost: Int { config.cost + layers.reduce(0) { $0 + $1.cost } + 100 + manifest.count }
    }

    struct Pusher: Sendable {
        let repository: String
        let images: [Image]
    }

    let pushers: [Pusher]
    var cost: Int { pushers.reduce(0) { $0 + $1.images.reduce(0) { $0 + $1.cost } } }

    init(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        // A few layers every pusher may use: concurrent commits of one blob.
        let shared = (0..<3).map { pattern(Int.random(in: 1...40_000, using: &generator), seed: seed &* 31 &+ UInt64($0)) }
        pushers = (0..<Int.random(in: 3...5, using: &generator)).map { index in
            let images = (0..<Int.random(in: 1...3, using: &generator)).map { number in
                Self.image(tag: "v\(number)", label: "\(seed)/\(index)/\(number)", shared: shared, &generator)
            }
            return Pusher(repository: "crash/p\(index)", images: images)
        }
    }

    private static func image(tag: String, label: String, shared: [[UInt8]], _ generator: inout SeededGenerator) -> Image {
        let config = blob(Array(#"{"architecture":"amd64","os":"linux","label":"\#(label)"}"#.utf8), &generator)
        let layers = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
            if generator.chance(percent: 30) { return blob(shared.randomElement(using: &generator)!, &generator) }
            // Mostly small; now and then one of a few hundred KiB, so kills land mid-body.
            let length = Int.random(in: generator.chance(percent: 15) ? 100_000...300_000 : 0...40_000, using: &generator)
            return blob(pattern(length, seed: generator.next()), &generator)
        }
        return Image(tag: tag, config: config, layers: layers, manifest: manifest(config: config, layers: layers))
    }

    private static func blob(_ bytes: [UInt8], _ generator: inout SeededGenerator) -> Blob {
        var mode = Mode.allCases.randomElement(using: &generator)!
        if case .chunked = mode { mode = .chunked(pieces: Int.random(in: 1...4, using: &generator)) }
        return Blob(bytes: bytes, digest: sha256Digest(bytes), mode: mode)
    }

    static func manifest(config: Blob, layers: [Blob]) -> [UInt8] {
        let layerText = layers.map {
            #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0.digest)","size":\#($0.bytes.count)}"#
        }
        return Array(
            (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#
                + #""config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config.digest)","size":\#(config.bytes.count)},"#
                + #""layers":[\#(layerText.joined(separator: ","))]}"#).utf8)
    }
}

/// Counts the pushers' progress and sends SIGKILL to the server once it
/// passes the seeded threshold: the kill point is a point in the traffic,
/// not in time, so a slow or loaded machine kills at the same point.
final class KillSwitch: Sendable {
    private let state = Mutex((sent: 0, fired: false))
    let threshold: Int
    let process: ChildProcess

    init(threshold: Int, process: ChildProcess) {
        self.threshold = threshold
        self.process = process
    }

    var fired: Bool { state.withLock { $0.fired } }

    func progress(_ units: Int) {
        let fire = state.withLock { state in
            state.sent += units
            guard state.sent >= threshold, !state.fired else { return false }
            state.fired = true
            return true
        }
        if fire { process.send(SIGKILL) }
    }

    func fire() {
        let fire = state.withLock { state in
            defer { state.fired = true }
            return !state.fired
        }
        if fire { process.send(SIGKILL) }
    }
}

/// What the registry answered 201 to, and anything it answered that a
/// well-behaved push should never get.
final class Acknowledgements: Sendable {
    enum Entry: Sendable {
        case blob(repository: String, CrashPlan.Blob)
        case manifest(repository: String, CrashPlan.Image)
    }

    /// An upload session the kill interrupted, as its pusher last knew it.
    struct Interrupted: Sendable {
        let repository: String
        let location: String
        let blob: CrashPlan.Blob
        let acknowledged: Int
    }

    private let state = Mutex((entries: [Entry](), problems: [String](), interrupted: [Interrupted]()))

    func record(_ entry: Entry) { state.withLock { $0.entries.append(entry) } }
    func interrupted(_ upload: Interrupted) { state.withLock { $0.interrupted.append(upload) } }
    var interrupted: [Interrupted] { state.withLock { $0.interrupted } }
    func problem(_ text: String) { state.withLock { $0.problems.append(text) } }
    var entries: [Entry] { state.withLock { $0.entries } }
    var problems: [String] { state.withLock { $0.problems } }
}

/// One pusher of the crash test: its images in order, each blob then the
/// manifest, until the server dies. Blocking; run it on its own thread.
struct CrashPusher {
    let wire: HTTPWire
    let pusher: CrashPlan.Pusher
    let killSwitch: KillSwitch
    let acknowledgements: Acknowledgements

    /// Where an upload session stands, as far as the pusher knows.
    struct SessionProgress {
        var location: String?
        /// Bytes the registry answered 202 to.
        var acknowledged = 0
    }

    func run() {
        var current: (blob: CrashPlan.Blob, session: SessionProgress)?
        do {
            for image in pusher.images {
                for blob in [image.config] + image.layers {
                    current = (blob, SessionProgress())
                    try push(blob, &current!.session)
                    current = nil
                    acknowledgements.record(.blob(repository: pusher.repository, blob))
                }
                let reply = try exchange(
                    "PUT", "/v2/\(pusher.repository)/manifests/\(image.tag)",
                    ["Content-Type": "application/vnd.oci.image.manifest.v1+json"], image.manifest)
                try expect(reply, 201, "manifest PUT")
                acknowledgements.record(.manifest(repository: pusher.repository, image))
            }
        } catch {
            // After the kill every request fails; before it, none may.
            if !killSwitch.fired { acknowledgements.problem("\(pusher.repository) before the kill: \(error)") }
            if let current, let location = current.session.location {
                acknowledgements.interrupted(
                    .init(repository: pusher.repository, location: location, blob: current.blob, acknowledged: current.session.acknowledged)
                )
            }
        }
    }

    private func push(_ blob: CrashPlan.Blob, _ progress: inout SessionProgress) throws {
        let uploads = "/v2/\(pusher.repository)/blobs/uploads/"
        let octets = ["Content-Type": "application/octet-stream"]
        if case .monolithic = blob.mode {
            try expect(try exchange("POST", uploads + "?digest=\(blob.digest)", octets, blob.bytes), 201, "monolithic POST")
            return
        }
        var location = try session(try exchange("POST", uploads, [:], []), "POST")
        progress.location = location
        var finalBody: [UInt8] = []
        switch blob.mode {
        case .monolithic: return
        case .postThenPut: finalBody = blob.bytes
        case .streamed:
            location = try session(try exchange("PATCH", location, octets, blob.bytes), "streamed PATCH")
            progress = SessionProgress(location: location, acknowledged: blob.bytes.count)
        case .chunked(let pieces):
            for piece in CrashPlan.Blob.pieces(blob.bytes.count, pieces) {
                var headers = octets
                headers["Content-Range"] = "\(piece.lowerBound)-\(piece.upperBound - 1)"
                location = try session(try exchange("PATCH", location, headers, Array(blob.bytes[piece])), "chunk PATCH")
                progress = SessionProgress(location: location, acknowledged: piece.upperBound)
            }
        }
        let separator = location.contains("?") ? "&" : "?"
        try expect(try exchange("PUT", location + separator + "digest=\(blob.digest)", octets, finalBody), 201, "final PUT")
    }

    private func exchange(_ method: String, _ target: String, _ headers: [String: String], _ body: [UInt8]) throws -> HTTPWire.Reply {
        try wire.exchange(method, target, headers: headers.sorted { $0.key < $1.key }, body: body, progress: killSwitch.progress)
    }

    /// The upload's next URL from a 202.
    private func session(_ reply: HTTPWire.Reply, _ what: String) throws -> String {
        try expect(reply, 202, what)
        guard let location = reply.headers["location"] else { throw HTTPWire.Failure(description: "\(what): no Location") }
        return location.hasPrefix("http") ? String(location.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }) : location
    }

    private func expect(_ reply: HTTPWire.Reply, _ status: Int, _ what: String) throws {
        guard reply.status == status else { throw HTTPWire.Failure(description: "\(what) answered \(reply)") }
    }
}

/// `sha256:<hex>` of `bytes`.
func sha256Digest(_ bytes: some Sequence<UInt8>) -> String {
    "sha256:" + SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
}
