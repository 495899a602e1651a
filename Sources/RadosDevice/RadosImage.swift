import Glibc

/// Image management: what `buse image create|ls|info|resize|rm` do.
public enum RadosImage {
    public static func create(_ pool: RadosPool, _ name: String, size: UInt64, objectSize: UInt64) throws(RadosError) {
        try ImageLayout.validate(name: name)
        try ImageLayout.validate(objectSize: objectSize)
        guard size > 0 else { throw .invalid("an image needs a size above 0") }
        if try pool.readWhole(ImageLayout.headerObject(name)) != nil { throw .imageExists(pool: pool.name, image: name) }
        let header = ImageHeader(size: size, objectSize: objectSize, created: UInt64(time(nil)))
        try pool.writeWhole(ImageLayout.mapObject(name), [])
        try pool.writeWhole(ImageLayout.headerObject(name), header.encoded())
    }

    public static func info(_ pool: RadosPool, _ name: String) throws(RadosError) -> ImageHeader {
        try ImageLayout.validate(name: name)
        guard let bytes = try pool.readWhole(ImageLayout.headerObject(name), limit: 4096) else {
            throw .imageNotFound(pool: pool.name, image: name)
        }
        return try ImageHeader(decoding: bytes, image: name)
    }

    public static func list(_ pool: RadosPool) throws(RadosError) -> [String] {
        try pool.objects(withPrefix: ImageLayout.headerPrefix).map { String($0.dropFirst(ImageLayout.headerPrefix.count)) }.sorted()
    }

    /// How many data objects the object map says may exist.
    public static func allocatedObjects(_ pool: RadosPool, _ name: String) throws(RadosError) -> Int {
        (try pool.readWhole(ImageLayout.mapObject(name)) ?? []).filter { $0 != 0 }.count
    }

    /// Grows, or with `allowShrink` shrinks, discarding the data past the new
    /// end. Takes the writer lock, so an image in use is never resized under
    /// its writer.
    public static func resize(
        _ pool: RadosPool, _ name: String, to size: UInt64, allowShrink: Bool, breakLock: Bool = false
    ) throws(RadosError) {
        var header = try info(pool, name)
        guard size > 0 else { throw .invalid("an image needs a size above 0") }
        if size < header.size && !allowShrink {
            throw .invalid("shrinking \(pool.name)/\(name) from \(header.size) to \(size) bytes discards data; pass --allow-shrink")
        }
        let lock = try ImageLock.acquire(pool, image: name, breakStale: breakLock)
        defer { lock.release() }
        if size < header.size {
            let keep = (size + header.objectSize - 1) / header.objectSize
            for number in keep..<header.objectCount { try pool.remove(ImageLayout.dataObject(name, number)) }
            if size % header.objectSize != 0 {
                try pool.truncate(ImageLayout.dataObject(name, keep - 1), to: size % header.objectSize)
            }
            try pool.truncate(ImageLayout.mapObject(name), to: keep)
        }
        header.size = size
        try pool.writeWhole(ImageLayout.headerObject(name), header.encoded())
    }

    /// Removes every data object (including any the map does not know),
    /// then the map and the header. Refuses while a writer holds the image.
    public static func remove(_ pool: RadosPool, _ name: String, breakLock: Bool = false) throws(RadosError) {
        _ = try info(pool, name)
        let lock = try ImageLock.acquire(pool, image: name, breakStale: breakLock)
        for object in try pool.objects(withPrefix: ImageLayout.dataPrefix(name)) { try pool.remove(object) }
        try pool.remove(ImageLayout.mapObject(name))
        lock.release()
        try pool.remove(ImageLayout.headerObject(name))
    }
}
