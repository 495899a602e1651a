import ArgumentParser

@main
struct Buse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buse",
        abstract: "A user-space block device service, reached through NBD.",
        discussion: """
            buse serves block devices whose data lives in user space (a file, memory) \
            to any NBD client: the Linux kernel (nbd-client), qemu, libnbd tools, fio.

            Devices are named by URI:
              file:/var/lib/buse/vol1.img?size=10G   a file, created sparse if missing
              file:/dev/sdb                          a block device
              memory:1G                              sparse memory, for tests
            Options for every device: readonly, offset=SIZE, length=SIZE.

            Start with:
              buse serve --export vol1=file:/var/lib/buse/vol1.img?size=10G
              nbdinfo nbd://127.0.0.1/vol1
            or, as root, attach it to the kernel and make a filesystem:
              modprobe nbd
              buse connect --daemon file:/var/lib/buse/vol1.img?size=10G   # prints /dev/nbdX
              mkfs.ext4 /dev/nbdX && mount /dev/nbdX /mnt
            """,
        subcommands: [
            Serve.self, Connect.self, Disconnect.self, List.self, Image.self,
            Replica.self, Promote.self, DiscardMyData.self, Status.self, Verify.self,
        ])
}
