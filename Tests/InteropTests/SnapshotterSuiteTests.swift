import Foundation
import Testing

/// containerd 1.6's own snapshotter test suite (`snapshots/testsuite`) run
/// through its proxy client against `buse snapshotter serve`: the harness
/// in containerd-suite/ builds in GOPATH mode against Debian's
/// golang-github-containerd-containerd-dev, and runs as root (the suite
/// mounts what the snapshotter returns).
@Suite struct SnapshotterSuiteTests {
    @Test(.timeLimit(.minutes(15)))
    func containerdsSnapshotterSuitePassesThroughTheProxy() async throws {
        let directory = try TemporaryDirectory()
        let harness = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("containerd-suite").path
        var environment = ProcessInfo.processInfo.environment
        environment["GOPATH"] = harness + ":/usr/share/gocode"
        environment["GO111MODULE"] = "off"
        let binary = directory.file("suite.test")
        try await runChecked(
            "go", ["test", "-c", "-o", binary, "busesuite"], in: directory, timeout: .seconds(600), environment: environment)
        environment["BUSE"] = try Tool.buse()
        let result = try await run(binary, ["-test.root", "-test.v"], in: directory, timeout: .seconds(600), environment: environment)
        let failures = result.standardOutput.split(separator: "\n").filter { $0.contains("--- FAIL") }
        #expect(result.succeeded, "\(failures.joined(separator: "\n"))\n\(result)")
        #expect(result.standardOutput.contains("--- PASS: TestBuseSnapshotter"))
    }
}
