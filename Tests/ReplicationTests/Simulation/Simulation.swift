import BlockDevices
import Foundation
import Journal
import Logging
import Replication
import TestSupport

/// One seeded run: a primary and a secondary (each a simulated host with a
/// disk, a state folder and an inline LMDB log) joined by a simulated link,
/// a client writing numbered blocks and flushing, and faults: dropped and
/// partitioned links, frames delayed, power loss on either host (the disk
/// keeps a random part of its cache, the log only what it last synced),
/// failing disks, and failover to the secondary. The invariants are checked
/// as it goes and at the end (see ``run(steps:)``).
final class Simulation: @unchecked Sendable {
    // Safety: every member is used only on the simulation's one thread.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let volumeSize: UInt64 = 1 << 20
    static let blocks = Int(volumeSize) / WriteModel.blockSize

    final class Host {
        var disk: SimulatedDisk
        var folder: String
        var incarnation = 0
        init(disk: SimulatedDisk, folder: String) {
            self.disk = disk
            self.folder = folder
        }
    }

    let seed: UInt64
    let policy: DegradedPolicy
    private var random: SeededGenerator
    private let executor = SimulationExecutor()
    private let root: String
    private let logger = Logger(label: "simulation") { label in
        let handler: any LogHandler =
            ProcessInfo.processInfo.environment["BUSE_SIMULATION_TRACE"] == nil
            ? SwiftLogNoOpLogHandler() : StreamLogHandler.standardOutput(label: label)
        return handler
    }
    private var hosts: [Host] = []
    private var primaryHost = 0
    private var primary: ReplicatedDevice?
    private var replica: ReplicaNode?
    private var link: SimulatedLink?
    /// Every link made, so close notices of earlier ones are still given.
    private var links: [SimulatedLink] = []
    private var healAt = 0
    private var replicaBackAt = 0
    private var step = 0
    /// Bumped when the primary crashes or fails over: answers to requests
    /// sent to an earlier primary are not the client's any more.
    private var epoch = 0
    private var model = WriteModel(blocks: Simulation.blocks)
    private var busy: Set<Int> = []
    private var writesInFlight = 0
    /// Writes the primary took through `startWrite`, without a task.
    private(set) var writesStartedWithoutTask = 0
    private var events: [String] = []
    private var failure: String?
    /// BUSE_SIMULATION_TRACE=BLOCK logs every event touching that block.
    private let traced = ProcessInfo.processInfo.environment["BUSE_SIMULATION_TRACE"].flatMap(Int.init)

    init(seed: UInt64) throws {
        self.seed = seed
        random = SeededGenerator(seed: seed)
        policy = [.continue, .continue, .fail, .suspend][Int(seed % 4)]
        root = "/dev/shm/buse-simulation-\(getpid())-\(seed)"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for index in 0..<2 {
            hosts.append(Host(disk: SimulatedDisk(size: Self.volumeSize, seed: random.next()), folder: "\(root)/host\(index)-0"))
        }
    }

    /// Every primary and replica opened, crashed ones included.
    private var opened: [any Sendable] = []

    /// Ends the run: cuts every link and closes every incarnation, so their
    /// suspended tasks finish and their logs close (10,000 seeds must not
    /// run out of file descriptors), then removes the files.
    func shutDown() {
        for link in links { link.cut(.linkLost("simulation over")) }
        for case let device as ReplicatedDevice in opened {
            spawn { try? await device.close() }
        }
        for case let node as ReplicaNode in opened {
            spawn { await node.close() }
        }
        try? settle()
        opened = []
        primary = nil
        replica = nil
        links = []
        link = nil
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Running tasks on the simulation executor

    private func spawn(_ body: @escaping @Sendable () async -> Void) {
        Task(executorPreference: executor) { await body() }
    }

    /// Runs jobs, delivers frames and close notices until nothing moves.
    private func settle() throws {
        var rounds = 0
        while true {
            var moved = giveCloseNotices()
            while executor.runOne(&random) { moved = true }
            if let link {
                while link.deliver(to: Int.random(in: 0..<2, using: &random)) || link.deliver(to: 0) || link.deliver(to: 1) {
                    moved = true
                    if random.chance(percent: 30) { break }
                }
            }
            if !moved { return }
            rounds += 1
            if rounds > 200_000 { throw Failure(description: "the simulation never settles (livelock)") }
        }
    }

    private func giveCloseNotices() -> Bool {
        var given = false
        for link in links where link.giveCloseNotices() { given = true }
        return given
    }

    /// Runs `body` on the executor and settles until it returns.
    private func complete<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        spawn {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        }
        try settle()
        guard let result = box.result else { throw Failure(description: "\(what) never finished") }
        return try result.get()
    }

    private func note(_ event: String) {
        if traced != nil { print("step \(step): \(event)") }
        events.append("step \(step): \(event)")
        if events.count > 30 { events.removeFirst() }
    }

    private func journalSettings(_ folder: String) -> JournalSettings {
        var settings = JournalSettings()
        settings.inline = true
        settings.limits.recordLimit = 12
        settings.limits.regionLength = 64 << 10
        settings.afterSync = {
            // A power loss keeps the log as it was at its last sync.
            let manager = FileManager.default
            try? manager.removeItem(atPath: folder + "/journal.synced")
            try? manager.createDirectory(atPath: folder + "/journal.synced", withIntermediateDirectories: true)
            try? manager.copyItem(atPath: folder + "/journal/data.mdb", toPath: folder + "/journal.synced/data.mdb")
        }
        return settings
    }

    /// The host's files after it stops: everything (clean) or what a power
    /// loss keeps. A new folder per incarnation, as a new process would see.
    private func reincarnate(_ host: Host, powerLoss: Bool) {
        let manager = FileManager.default
        host.incarnation += 1
        let next = "\(root)/host\(hosts.firstIndex { $0 === host }!)-\(host.incarnation)"
        try? manager.createDirectory(atPath: next + "/journal", withIntermediateDirectories: true)
        try? manager.createDirectory(atPath: next + "/journal.synced", withIntermediateDirectories: true)
        try? manager.copyItem(atPath: host.folder + "/state.json", toPath: next + "/state.json")
        // What survives is on disk: it is also what the next power loss keeps
        // until the new incarnation syncs.
        let journal = host.folder + (powerLoss ? "/journal.synced/data.mdb" : "/journal/data.mdb")
        try? manager.copyItem(atPath: journal, toPath: next + "/journal/data.mdb")
        try? manager.copyItem(atPath: journal, toPath: next + "/journal.synced/data.mdb")
        host.folder = next
        host.disk = powerLoss ? host.disk.losePower() : host.disk.stopCleanly()
    }

    private func openPrimary() throws {
        let host = hosts[primaryHost]
        var configured = ReplicationOptions()
        configured.policy = policy
        configured.executor = executor
        configured.chunkLength = 64 << 10
        configured.resyncDepth = 4
        // Checkpoints every few chunks, so resyncs cut short by faults resume.
        configured.resyncCheckpoint = 192 << 10
        let options = configured
        let (disk, folder, settings, logger) = (host.disk, host.folder, journalSettings(host.folder), logger)
        let device = try complete("opening the primary") {
            try await ReplicatedDevice(
                lower: disk, folder: try NodeFolder(path: folder), options: options, journalSettings: settings, logger: logger)
        }
        primary = device
        opened.append(device)
    }

    private func openReplica() throws {
        let host = hosts[1 - primaryHost]
        let (disk, folder, settings, logger, executor) = (host.disk, host.folder, journalSettings(host.folder), logger, executor)
        let node = try complete("opening the replica") {
            try await ReplicaNode(
                device: disk, folder: try NodeFolder(path: folder), journalSettings: settings, executor: executor, logger: logger)
        }
        replica = node
        opened.append(node)
    }

    private func heal() {
        guard let primary, let replica, link == nil || link!.isCut else { return }
        let link = SimulatedLink()
        self.link = link
        links.append(link)
        note("link up")
        spawn { _ = await primary.run(link.ends[0]) }
        spawn { _ = await replica.serve(link.ends[1]) }
    }

    private func cut(_ why: String) {
        guard let link, !link.isCut else { return }
        note(why)
        link.cut(.linkLost("simulated: \(why)"))
        healAt = step + Int.random(in: 0..<40, using: &random)
    }

    // MARK: The client

    private func issueWrite() {
        guard let primary, writesInFlight < 8 else { return }
        let block = Int.random(in: 0..<Self.blocks, using: &random)
        guard !busy.contains(block) else { return }
        let generation = model.issue(block: block)
        let fua = random.chance(percent: 10)
        // Most writes come as the engine sends them to a replicated export,
        // `startWrite` first; the rest take `write` straight away.
        let started = random.chance(percent: 75)
        busy.insert(block)
        writesInFlight += 1
        let epoch = self.epoch
        let bytes = WriteModel.pattern(block: block, generation: generation)
        if block == traced {
            print(
                "step \(step): write block \(block) generation \(generation) fua \(fua) issued, link \(link.map { $0.isCut ? "cut" : "up" } ?? "none") inSync \(primary.isInSync)"
            )
        }
        spawn { [self] in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 4096)
            defer { buffer.deallocate() }
            buffer.copyBytes(from: bytes)
            let outcome = await attemptWrite(primary, buffer, block, fua, started: started)
            if block == traced {
                print(
                    "step \(step): write block \(block) generation \(generation) \(outcome ? "acknowledged" : "failed") (epoch \(epoch) now \(self.epoch))"
                )
            }
            guard epoch == self.epoch else { return }
            busy.remove(block)
            writesInFlight -= 1
            if outcome { model.acknowledge(block: block, generation: generation) }
        }
    }

    private func attemptWrite(
        _ device: ReplicatedDevice, _ buffer: UnsafeMutableRawBufferPointer, _ block: Int, _ fua: Bool, started: Bool
    ) async -> Bool {
        let data = UnsafeRawBufferPointer(buffer)
        // As the engine does: `startWrite` first, `write` when it declines.
        if started, let outcome = await Self.startWrite(device, data, at: UInt64(block * WriteModel.blockSize), fua: fua) {
            writesStartedWithoutTask += 1
            return outcome
        }
        do {
            try await device.write(UnsafeRawBufferPointer(buffer), at: UInt64(block * WriteModel.blockSize), fua: fua)
            return true
        } catch {
            return false
        }
    }

    /// True or false when the write was started and answered; nil when
    /// the device declined it.
    private static func startWrite(
        _ device: ReplicatedDevice, _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool
    ) async
        -> Bool?
    {
        nonisolated(unsafe) let data = data
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool?, Never>) in
            let took = device.startWrite(data, at: offset, fua: fua) { error in continuation.resume(returning: error == nil) }
            if !took { continuation.resume(returning: nil) }
        }
    }

    private func issueFlush() {
        guard let primary else { return }
        let mark = model.flushStarted()
        let epoch = self.epoch
        spawn { [self] in
            do {
                try await primary.flush()
                guard epoch == self.epoch else { return }
                model.flushSucceeded(mark)
            } catch {}
        }
    }

    // MARK: Faults

    private func crashReplica() {
        guard replica != nil else { return }
        note("replica host loses power")
        replica = nil
        link?.cut(.linkLost("simulated: replica host lost power"))
        reincarnate(hosts[1 - primaryHost], powerLoss: true)
        replicaBackAt = step + Int.random(in: 5..<40, using: &random)
    }

    private func crashPrimary() throws {
        guard primary != nil else { return }
        // An operator fails over only to a peer that was in sync (with the
        // continue policy the primary may have acknowledged writes alone).
        let failover = policy != .continue && primary!.isInSync && replica != nil && random.chance(percent: 60)
        note("primary host loses power\(failover ? ", failover" : "")")
        epoch += 1
        busy = []
        writesInFlight = 0
        primary = nil
        link?.cut(.linkLost("simulated: primary host lost power"))
        let old = hosts[primaryHost]
        reincarnate(old, powerLoss: true)
        if failover {
            // The operator stops the secondary, promotes it, serves from it.
            let node = replica!
            try complete("stopping the replica") { await node.close() }
            replica = nil
            let survivor = hosts[1 - primaryHost]
            reincarnate(survivor, powerLoss: false)
            let (folder, settings) = (survivor.folder, journalSettings(survivor.folder))
            _ = try complete("promoting") { try await NodeFolder(path: folder).promote(force: false, journalSettings: settings) }
            let contents = survivor.disk.allContents
            if let violation = model.violation(
                in: contents, against: model.allowedOnPeer, what: "after failover (an acknowledged write is missing)")
            {
                return fail(violation)
            }
            model.reset(to: contents)
            primaryHost = 1 - primaryHost
            try openPrimary()
            replicaBackAt = step + Int.random(in: 5..<40, using: &random)
        } else {
            let contents = old.disk.allContents
            if let violation = model.violation(
                in: contents, against: model.durable, what: "after the primary lost power (a flushed write is missing)")
            {
                return fail(violation)
            }
            model.resetAfterPrimaryCrash(to: contents)
            try openPrimary()
        }
    }

    private func fail(_ message: String) {
        if failure == nil { failure = message }
    }

    // MARK: The run

    /// Runs `steps` random steps, then heals everything and checks:
    /// - at every crash: what the primary's disk holds is what was flushed
    ///   (or written since); at failover, every acknowledged write is on
    ///   the promoted copy;
    /// - every 25 steps: the primary reads back every acknowledged write;
    /// - at the end: the pair is in sync, both copies are byte-identical,
    ///   and `verify` finds no difference.
    func run(steps: Int) throws {
        try openPrimary()
        try openReplica()
        heal()
        try settle()
        for index in 0..<steps {
            step = index
            if link?.isCut ?? true, step >= healAt, primary != nil, replica != nil { heal() }
            if replica == nil, step >= replicaBackAt {
                note("replica host back")
                try openReplica()
            }
            let roll = Int.random(in: 0..<100, using: &random)
            switch roll {
            case 0..<40: issueWrite()
            case 40..<46: issueFlush()
            case 46..<70: for _ in 0..<Int.random(in: 1...20, using: &random) { executor.runOne(&random) }
            case 70..<90:
                _ = giveCloseNotices()
                for _ in 0..<Int.random(in: 1...6, using: &random) { _ = link?.deliver(to: Int.random(in: 0..<2, using: &random)) }
            case 90..<93: cut("link drops")
            case 93..<95: crashReplica()
            case 95..<97: try crashPrimary()
            default:
                let host = hosts[Int.random(in: 0..<2, using: &random)]
                host.disk.failurePercent = random.chance(percent: 50) ? 0 : Int.random(in: 1...3, using: &random)
                note("disk failures at \(host.disk.failurePercent)%")
            }
            if primary?.isInSync == true { model.peerCaughtUp() }
            if step % 25 == 0, let failure = checkPrimary() { fail(failure) }
            if let failure { throw Failure(description: report(failure)) }
        }
        try finish()
    }

    private func checkPrimary() -> String? {
        guard primary != nil else { return nil }
        return model.violation(
            in: hosts[primaryHost].disk.allContents, against: model.allowed, what: "the primary lost an acknowledged write")
    }

    private func finish() throws {
        step += 1
        note("healing everything")
        for host in hosts { host.disk.failurePercent = 0 }
        if replica == nil { try openReplica() }
        var attempts = 0
        while !(primary?.isInSync ?? false) {
            attempts += 1
            guard attempts < 20 else {
                let status = primary.map { "\($0.status)" } ?? "no primary"
                throw Failure(description: report("the pair never got in sync: \(status)"))
            }
            heal()
            try settle()
        }
        let device = primary!
        try complete("the final flush") { try await device.flush() }
        let mine = hosts[primaryHost].disk.allContents
        if let violation = model.violation(in: mine, against: model.allowed, what: "at the end, the primary lost an acknowledged write") {
            throw Failure(description: report(violation))
        }
        let theirs = hosts[1 - primaryHost].disk.allContents
        if mine != theirs {
            let first = zip(mine, theirs).enumerated().first { $0.element.0 != $0.element.1 }!.offset
            let block = first / WriteModel.blockSize
            let sector = first / WriteModel.sectorSize
            let held = { (bytes: [UInt8]) in WriteModel.generation(of: bytes, sector: sector).map(String.init) ?? "garbage" }
            throw Failure(
                description: report(
                    "after resync the copies differ, first at byte \(first) (block \(block)): the primary holds generation \(held(mine)), the secondary \(held(theirs))"
                ))
        }
        let verified = try complete("verify") { try await device.verify(repair: false) }
        if !verified.mismatches.isEmpty {
            throw Failure(description: report("verify found differences the byte comparison did not: \(verified.mismatches)"))
        }
    }

    private func report(_ message: String) -> String {
        "seed \(seed) (policy \(policy.rawValue)): \(message)\nlast events:\n  " + events.joined(separator: "\n  ")
            + "\nreproduce: BUSE_SIMULATION_SEED=\(seed) swift test --filter ReplicationSimulationTests"
    }
}

/// Where a task on the simulation executor leaves its result.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    // Safety: written and read on the simulation's one thread.
    var result: Result<T, any Error>?
}
