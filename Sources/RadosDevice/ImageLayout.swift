/// How a buse image is laid out in a RADOS pool.
///
/// - `buse_header.IMAGE`: the header, a few `key=value` lines: `format`
///   (1), `size` and `object-size` in bytes, `created` (Unix seconds). The
///   writer's exclusive lock (`rados_lock_exclusive`, lock name
///   `buse-writer`) lives on this object, and the xattr `buse.writer`
///   holds the current writer's lock cookie (host, pid, random).
/// - `buse_map.IMAGE`: the object map, one byte per data object, 1 when
///   the object may exist. A data object is created only when first
///   written, and its byte is stored before that write, so an object marked
///   absent never holds data: reading an unwritten region costs no round
///   trip, and the image is thin.
/// - `buse_data.IMAGE.%016x`: the data objects, `object-size` bytes of
///   the image each, named by image and object number (block access needs
///   the number, not a uuid, to find an offset's object without a lookup).
///
/// Unlike the docker/distribution RADOS driver, which kept a blob's size as
/// an xattr on its first chunk and named chunks by uuid, a block image needs
/// to address any offset directly and to know emptiness without asking.
public enum ImageLayout {
    public static let headerPrefix = "buse_header."
    public static let lockName = "buse-writer"
    public static let writerAttribute = "buse.writer"
    public static let formatVersion = 1
    public static let defaultObjectSize: UInt64 = 4 << 20

    public static func headerObject(_ image: String) -> String { headerPrefix + image }
    public static func mapObject(_ image: String) -> String { "buse_map.\(image)" }
    public static func dataPrefix(_ image: String) -> String { "buse_data.\(image)." }

    /// One formatter for both: the I/O path names objects with
    /// ``DataObjectNames`` (C bytes, no String per request).
    public static func dataObject(_ image: String, _ number: UInt64) -> String { DataObjectNames(image: image)(number).string }

    /// Image names end up in object names: keep them plain.
    public static func validate(name: String) throws(RadosError) {
        guard !name.isEmpty, name.utf8.count <= 200, !name.contains("/"), !name.contains(where: \.isWhitespace) else {
            throw .invalid("image name \"\(name)\" must be 1 to 200 bytes with no '/' or spaces")
        }
    }

    /// Object sizes are powers of two from 64 KiB to 256 MiB.
    public static func validate(objectSize: UInt64) throws(RadosError) {
        guard objectSize >= 64 << 10, objectSize <= 256 << 20, objectSize & (objectSize - 1) == 0 else {
            throw .invalid("object size \(objectSize) must be a power of two from 64K to 256M")
        }
    }
}

/// The contents of an image's header object.
public struct ImageHeader: Sendable, Equatable {
    public var format: Int
    public var size: UInt64
    public var objectSize: UInt64
    public var created: UInt64

    public init(size: UInt64, objectSize: UInt64, created: UInt64, format: Int = ImageLayout.formatVersion) {
        self.format = format
        self.size = size
        self.objectSize = objectSize
        self.created = created
    }

    public var objectCount: UInt64 { (size + objectSize - 1) / objectSize }

    public func encoded() -> [UInt8] {
        Array("format=\(format)\nsize=\(size)\nobject-size=\(objectSize)\ncreated=\(created)\n".utf8)
    }

    public init(decoding bytes: some Collection<UInt8>, image: String) throws(RadosError) {
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let format = fields["format"].flatMap({ Int($0) }), format == ImageLayout.formatVersion else {
            throw .badHeader(image: image, "format \(fields["format"] ?? "missing") is not \(ImageLayout.formatVersion)")
        }
        guard let size = fields["size"].flatMap({ UInt64($0) }),
            let objectSize = fields["object-size"].flatMap({ UInt64($0) }), objectSize > 0
        else { throw .badHeader(image: image, "size or object-size missing") }
        self.init(size: size, objectSize: objectSize, created: fields["created"].flatMap { UInt64($0) } ?? 0, format: format)
    }
}
