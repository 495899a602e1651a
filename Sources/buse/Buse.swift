import ArgumentParser
import Glibc

@main
struct Buse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buse",
        abstract: "A user-space block device service, reached through NBD.",
        discussion: """
            buse serves block devices whose data lives in user space (a file or block device, \
            memory, a RADOS image) \
            to any NBD client: the Linux kernel (nbd-client), qemu, libnbd tools, fio.

            Devices are named by URI:
              file:/var/lib/buse/vol1.img?size=10G      a file, created sparse if missing
              file:/dev/sdb                             a block device
              memory:1G                                 sparse memory, for tests
              rados:rbd/vol1?conf=/etc/ceph/ceph.conf   a Ceph image (`buse image create`)
            Every scheme and option, with defaults and the size and duration syntax, is in
            the "Device URIs" section of README.md. Quote a URI that holds ? or &.

            Start with:
              buse serve --export vol1=file:/var/lib/buse/vol1.img?size=10G
              nbdinfo nbd://127.0.0.1/vol1
            or, as root, attach it to the kernel and make a filesystem on the /dev/nbdX
            that `buse connect` prints:
              modprobe nbd
              buse connect --daemon file:/var/lib/buse/vol1.img?size=10G
              mkfs.ext4 /dev/nbdX && mount /dev/nbdX /mnt
            """,
        subcommands: [
            Serve.self, Connect.self, Disconnect.self, List.self, Image.self,
            Replica.self, Promote.self, DiscardMyData.self, Status.self, Verify.self, Layers.self,
        ] + Services.commands)

    static func main() async {
        // A peer that hangs up must cost a connection, never the process:
        // every socket send already says MSG_NOSIGNAL, and this covers the
        // writes that cannot (a daemon's readiness pipe to a parent that
        // has gone).
        signal(SIGPIPE, SIG_IGN)
        DescriptorLimit.raiseToHardLimit()
        await main(nil)
    }
}
