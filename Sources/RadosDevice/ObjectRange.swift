/// The part of one data object that a device range covers.
struct ObjectRange {
    let number: UInt64
    /// Offset within the object.
    let offset: UInt64
    let length: UInt64
    /// Offset of this piece within the caller's buffer or range.
    let position: Int
    let objectSize: UInt64

    var isWholeObject: Bool { offset == 0 && length == objectSize }
    var reachesObjectEnd: Bool { offset + length == objectSize }

    /// Splits `offset..<offset+length` of the image at object boundaries.
    static func split(offset: UInt64, length: UInt64, objectSize: UInt64) -> [ObjectRange] {
        var ranges: [ObjectRange] = []
        var position = offset
        let end = offset + length
        while position < end {
            let within = position % objectSize
            let piece = min(objectSize - within, end - position)
            ranges.append(
                ObjectRange(
                    number: position / objectSize, offset: within, length: piece, position: Int(position - offset),
                    objectSize: objectSize))
            position += piece
        }
        return ranges
    }
}
