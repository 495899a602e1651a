import Glibc
import TestSupport

/// Starts `buse snapshotter serve --root ROOT --socket SOCKET` and returns
/// once it says it serves, which it says once the socket listens.
func startServingSnapshotter(root: String, socket: String, in directory: TemporaryDirectory) async throws -> ChildProcess {
    let snapshotter = try ChildProcess(
        try Tool.buse(), ["snapshotter", "serve", "--root", root, "--socket", socket],
        outputPrefix: directory.unique("snapshotter"))
    do {
        try await waitUntil("the snapshotter says it serves") {
            (snapshotter.standardError + snapshotter.standardOutput).contains("serving containerd snapshots")
        }
    } catch {
        snapshotter.send(SIGKILL)
        throw error
    }
    return snapshotter
}
