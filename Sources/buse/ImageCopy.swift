import ArgumentParser

/// `buse image copy POOL/A POOL/B`: one RADOS image into another, in the
/// same cluster (the same --conf), any pools.
struct ImageCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a RADOS image into a new image (or, with --existing, an existing one).",
        discussion: """
            As `buse image export` then `import`, without the file between: the source is \
            held under its writer lock while it is copied (a copy of one moment; an image a \
            running buse serves is refused), only its data objects are read, and the new \
            image gets data objects only where the source has data. If the copy fails or is \
            interrupted, a new image is removed again.

            Example:
              buse image copy rbd/vol1 rbd/vol1-before-upgrade
            """)

    @Argument(help: ArgumentHelp("The image to copy.", valueName: "pool/image"))
    var source: String

    @Argument(help: ArgumentHelp("The image to copy into.", valueName: "pool/image"))
    var target: String

    @Option(help: ArgumentHelp("Bytes per data object of the new image. (default: the source's)", valueName: "size"))
    var objectSize: String?

    @Flag(help: "Copy into an image that exists (at least as large as the source) instead of creating one.")
    var existing = false

    @Flag(help: "Break a stale writer lock, left by a crash, on either image.")
    var breakLock = false

    @OptionGroup var cluster: Image.ClusterOptions

    func validate() throws {
        if existing && objectSize != nil {
            throw ValidationError("--object-size is for a new image; an existing image keeps its own")
        }
        let (from, into) = (try Image.split(source), try Image.split(target))
        if from == into { throw ValidationError("an image cannot be copied onto itself") }
    }

    func run() async throws {
        let (from, sourceObjectSize) = try ImageCopyEnds.imageSource(source, cluster: cluster, breakLock: breakLock)
        let into = try await from.opening {
            let objectSize = try objectSize.map { try Image.size($0, "--object-size") } ?? sourceObjectSize
            return try ImageCopyEnds.imageDestination(
                target, size: from.device.size, objectSize: objectSize, existing: existing, breakLock: breakLock,
                cluster: cluster)
        }
        try await ImageTransfer(
            verb: "copy", source: from, destination: into.end, destinationIsBlank: into.isBlank, objectSize: into.objectSize
        ).run(success: "copied \(source) to \(target)")
    }
}
