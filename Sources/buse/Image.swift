import ArgumentParser
import DeviceCatalog
import RadosDevice

/// `buse image`: manage RADOS images.
struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, inspect, resize, remove, import, export and copy RADOS images.",
        discussion: """
            Images live in a Ceph pool as a header, an object map and data objects \
            created only when written. The cluster is found through --conf, $CEPH_CONF \
            or /etc/ceph/ceph.conf. Serve an image with \
            buse serve --export vol=rados:POOL/IMAGE.

            Examples:
              buse image create rbd/vol1 --size 10G
              buse image ls rbd
              buse image resize rbd/vol1 --size 20G
              buse image rm rbd/vol1
              buse image import /var/lib/buse/vol1.img rbd/vol1   # a file volume onto Ceph
              buse image export rbd/vol1 /var/lib/buse/vol1.img   # and back, sparse
            """,
        subcommands: [
            Create.self, ListImages.self, Info.self, Resize.self, Remove.self, ImageImport.self, ImageExport.self, ImageCopy.self,
        ])

    struct ClusterOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The Ceph config file. (default: $CEPH_CONF or /etc/ceph/ceph.conf)", valueName: "file"))
        var conf: String?

        @Option(help: ArgumentHelp("The Ceph client id, without 'client.'.", valueName: "id"))
        var id: String = "admin"

        @Option(help: ArgumentHelp("A keyring file for that client.", valueName: "file"))
        var keyring: String?

        @Option(help: ArgumentHelp("A RADOS namespace within the pool.", valueName: "name"))
        var namespace: String?

        func pool(_ name: String) throws -> RadosPool {
            var settings = RadosCluster.Settings()
            settings.configFile = conf
            settings.clientID = id
            settings.keyring = keyring
            settings.operationTimeout = 30
            return try RadosCluster(settings).pool(name, namespace: namespace)
        }
    }

    static func split(_ text: String) throws -> (pool: String, image: String) {
        guard let parts = RadosURI.poolAndImage(text) else {
            throw ValidationError("\"\(text)\" must be POOL/IMAGE, e.g. rbd/vol1")
        }
        return parts
    }

    static func size(_ text: String, _ flag: String) throws -> UInt64 {
        guard let bytes = ByteSize.parse(text), bytes > 0 else {
            throw ValidationError("\(flag) \"\(text)\" must be a size such as 512M, 10G or 2T")
        }
        return bytes
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an image (thin: nothing is written but its header).")
        @Argument(help: ArgumentHelp("The image to create.", valueName: "pool/image")) var target: String
        @Option(help: ArgumentHelp("Its size, e.g. 10G.", valueName: "size")) var size: String
        @Option(help: ArgumentHelp("Bytes per data object: a power of two from 64K to 256M.", valueName: "size"))
        var objectSize: String = "4M"
        @OptionGroup var cluster: ClusterOptions

        func run() throws {
            let (pool, image) = try Image.split(target)
            try RadosImage.create(
                cluster.pool(pool), image, size: Image.size(size, "--size"), objectSize: Image.size(objectSize, "--object-size"))
            print("created \(pool)/\(image)")
        }
    }

    struct ListImages: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the images in a pool.")
        @Argument(help: ArgumentHelp("The pool.", valueName: "pool")) var pool: String
        @OptionGroup var cluster: ClusterOptions

        func run() throws {
            for image in try RadosImage.list(cluster.pool(pool)) { print(image) }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image's size, object size and allocation.")
        @Argument(help: ArgumentHelp("The image.", valueName: "pool/image")) var target: String
        @OptionGroup var cluster: ClusterOptions

        func run() throws {
            let (poolName, image) = try Image.split(target)
            let pool = try cluster.pool(poolName)
            let header = try RadosImage.info(pool, image)
            let allocated = try RadosImage.allocatedObjects(pool, image)
            print("image: \(poolName)/\(image)")
            print("size: \(header.size) (\(ByteSize.format(header.size)))")
            print("object size: \(header.objectSize) (\(ByteSize.format(header.objectSize)))")
            print("objects: \(header.objectCount), of which \(allocated) may hold data")
            print("format: \(header.format)")
            print("created: \(header.created)")
        }
    }

    struct Resize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grow an image, or shrink it with --allow-shrink (discarding data past the end).")
        @Argument(help: ArgumentHelp("The image.", valueName: "pool/image")) var target: String
        @Option(help: ArgumentHelp("The new size.", valueName: "size")) var size: String
        @Flag(help: "Allow shrinking, which discards every byte past the new end.") var allowShrink = false
        @Flag(help: "Break a stale writer lock left by a crash.") var breakLock = false
        @OptionGroup var cluster: ClusterOptions

        func run() throws {
            let (pool, image) = try Image.split(target)
            try RadosImage.resize(
                cluster.pool(pool), image, to: Image.size(size, "--size"), allowShrink: allowShrink, breakLock: breakLock)
            print("resized \(pool)/\(image)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an image and every one of its objects.")
        @Argument(help: ArgumentHelp("The image.", valueName: "pool/image")) var target: String
        @Flag(help: "Break a stale writer lock left by a crash.") var breakLock = false
        @OptionGroup var cluster: ClusterOptions

        func run() throws {
            let (pool, image) = try Image.split(target)
            try RadosImage.remove(cluster.pool(pool), image, breakLock: breakLock)
            print("removed \(pool)/\(image)")
        }
    }
}
