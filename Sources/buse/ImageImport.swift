import ArgumentParser
import DeviceCatalog
import RadosDevice

/// `buse image import SOURCE POOL/IMAGE`: a file, block device or device
/// into a new (or, with --existing, an existing) RADOS image.
struct ImageImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Copy a file, a block device or any buse device into a RADOS image.",
        discussion: """
            SOURCE is a path (a regular file, such as a file-backed volume, or a block \
            device) or a device URI as `buse serve --export` takes it (file:, rados:, \
            memory:); a name with a colon that is a file is written ./name. It is opened \
            read-only: a file a running buse serves for writing is refused, stop it first.

            The image is created with the source's size and must not exist, unless \
            --existing: then it must hold at least as many bytes, and afterwards reads \
            as the source up to the source's size (bytes past it are left as they were).

            The copy is thin: ranges the source reports unallocated are not read, blocks \
            of 4 KiB that read as zeros are not written, so a new image gets data objects \
            only where the source has data (`buse image info` counts them). Several \
            objects are copied at once. Progress goes to standard error: a live line on a \
            terminal, a line every 10% otherwise. If the copy fails or is interrupted \
            (Ctrl-C), a new image is removed again; the error says so, or how to remove it.

            Examples:
              buse image import /var/lib/buse/vol1.img rbd/vol1
              buse image import /dev/vg0/vol2 rbd/vol2 --object-size 8M
              buse image import 'rados:old/vol3?conf=/etc/ceph/old.conf' rbd/vol3
            """)

    @Argument(help: ArgumentHelp("A file or block device path, or a device URI.", valueName: "source"))
    var source: String

    @Argument(help: ArgumentHelp("The image to copy into.", valueName: "pool/image"))
    var target: String

    @Option(help: ArgumentHelp("Bytes per data object of the new image. (default: 4M)", valueName: "size"))
    var objectSize: String?

    @Flag(help: "Copy into an image that exists (at least as large as the source) instead of creating one.")
    var existing = false

    @Flag(help: "With --existing: break a stale writer lock left by a crash.")
    var breakLock = false

    @OptionGroup var cluster: Image.ClusterOptions

    func validate() throws {
        if existing && objectSize != nil {
            throw ValidationError("--object-size is for a new image; an existing image keeps its own")
        }
        if breakLock && !existing { throw ValidationError("--break-lock is for --existing; a new image has no lock to break") }
        _ = try Image.split(target)
    }

    func run() async throws {
        let objectSize = try Image.size(objectSize ?? "4M", "--object-size")
        let from = try ImageCopyEnds.source(source)
        let into = try await from.opening {
            try ImageCopyEnds.imageDestination(
                target, size: from.device.size, objectSize: objectSize, existing: existing, breakLock: breakLock,
                cluster: cluster)
        }
        try await ImageTransfer(
            verb: "import", source: from, destination: into.end, destinationIsBlank: into.isBlank, objectSize: into.objectSize
        ).run(success: "imported \(source) into \(target)")
    }
}
