import ArgumentParser

/// `buse image export POOL/IMAGE DEST`: a RADOS image into a sparse file or
/// onto a block device.
struct ImageExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Copy a RADOS image into a sparse file or onto a block device.",
        discussion: """
            DEST is a path. A new file is created with the image's size and holes wherever \
            the image has no data (objects never written are not even read; blocks of 4 KiB \
            that read as zeros are not written). An existing file is refused unless \
            --overwrite (it is then emptied and rewritten, sparse), and so is a block device, \
            which must hold at least the image's size; on one, ranges without data are zeroed.

            The export holds the image's writer lock while it copies, so it is a copy of one \
            moment: an image a running buse serves is refused (stop it first). Progress goes \
            to standard error. If the copy fails or is interrupted (Ctrl-C), a new file is \
            removed again.

            Examples:
              buse image export rbd/vol1 /var/lib/buse/vol1.img
              buse image export rbd/vol1 /dev/vg0/vol1 --overwrite
            """)

    @Argument(help: ArgumentHelp("The image to copy.", valueName: "pool/image"))
    var source: String

    @Argument(help: ArgumentHelp("A file (created sparse) or a block device.", valueName: "dest"))
    var destination: String

    @Flag(help: "Replace an existing file, or write over a block device.")
    var overwrite = false

    @Flag(help: "Break a stale writer lock left by a crash.")
    var breakLock = false

    @OptionGroup var cluster: Image.ClusterOptions

    func validate() throws { _ = try Image.split(source) }

    func run() async throws {
        let (from, sourceObjectSize) = try ImageCopyEnds.imageSource(source, cluster: cluster, breakLock: breakLock)
        let into = try await from.opening {
            try ImageCopyEnds.fileDestination(destination, size: from.device.size, overwrite: overwrite)
        }
        try await ImageTransfer(
            verb: "export", source: from, destination: into.end, destinationIsBlank: into.isBlank,
            objectSize: sourceObjectSize
        ).run(success: "exported \(source) to \(destination)")
    }
}
