import ArgumentParser
import Glibc
import KernelAttach

struct Disconnect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detach a /dev/nbdX that buse attached: flush, disconnect, wait for the daemon to finish.",
        discussion: """
            Refuses devices buse did not attach. Example:
              buse disconnect /dev/nbd0
            """)

    @Argument(help: ArgumentHelp("The device to detach.", valueName: "/dev/nbdN"))
    var device: String

    @Option(help: ArgumentHelp("Seconds to wait for the serving process to finish.", valueName: "seconds"))
    var timeout: Int = 60

    func run() throws {
        let node = try NBDDeviceNode(path: device)
        guard geteuid() == 0 else { throw CommandLineError(KernelAttachError.notRoot("buse disconnect").description) }
        let record = AttachmentRecord.load(node)
        let ours = record != nil || (node.backend?.hasPrefix("buse:") ?? false)
        guard ours else { throw CommandLineError(KernelAttachError.notOurs(node.path).description) }
        guard node.kernelSize > 0 || node.kernelPid != nil else {
            AttachmentRecord.remove(node)
            throw CommandLineError(KernelAttachError.notAttached(node.path).description + " (removed its stale record)")
        }
        flushThroughKernel(node)
        try KernelAttachment.detachDevice(node, mode: record?.mode ?? .netlink)
        if let record, record.daemonIsAlive {
            var waited = 0
            while record.daemonIsAlive && waited < timeout * 10 {
                usleep(100_000)
                waited += 1
            }
            guard !record.daemonIsAlive else {
                throw CommandLineError("\(node.path) is detached, but buse pid \(record.pid) did not finish within \(timeout) s")
            }
        } else {
            AttachmentRecord.remove(node)
        }
        print("detached \(node.path)")
    }

    /// fsync on the block device makes the kernel write back its cache and
    /// send NBD_CMD_FLUSH, so everything reaches the device before we detach.
    private func flushThroughKernel(_ node: NBDDeviceNode) {
        let fd = open(node.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
