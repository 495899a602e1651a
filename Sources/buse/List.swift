import ArgumentParser
import DeviceCatalog
import KernelAttach

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every /dev/nbdX that buse attached, with its device URI, pid, size and state.",
        discussion: """
            States: serving (the daemon is alive and the kernel attached), waiting for \
            reattach (the daemon died; the kernel holds I/O until the dead-connection \
            timeout: run buse connect --reattach), stale (buse's record of a device the \
            kernel no longer has). Devices attached by other tools are not shown.
            """)

    func run() {
        var rows: [[String]] = [["DEVICE", "URI", "PID", "SIZE", "MODE", "STATE"]]
        for node in NBDDeviceNode.all() {
            let record = AttachmentRecord.load(node)
            let backend = node.backend
            guard record != nil || (backend?.hasPrefix("buse:") ?? false) else { continue }
            let attached = node.kernelSize > 0
            let alive = record?.daemonIsAlive ?? false
            let state = !attached ? "stale" : alive ? "serving" : "waiting for reattach"
            rows.append([
                node.path, record?.uri ?? String(backend!.dropFirst("buse:".count)), record.map { "\($0.pid)" } ?? "-",
                ByteSize.format(attached ? node.kernelSize : record?.size ?? 0), record?.mode.rawValue ?? "netlink", state,
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}

extension String {
    func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
        count >= length ? self : self + String(repeating: pad, count: length - count)
    }
}
