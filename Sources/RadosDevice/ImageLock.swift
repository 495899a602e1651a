import CRados
import Glibc

/// The single-writer rule: a writer holds an exclusive lock on the image's
/// header object. A second writer is told who holds it; after a crash an
/// operator breaks the stale lock explicitly (`--break-lock`).
struct ImageLock: Sendable {
    let pool: RadosPool
    let image: String
    let cookie: String

    /// Takes the lock, or says who holds it.
    static func acquire(_ pool: RadosPool, image: String, breakStale: Bool) throws(RadosError) -> ImageLock {
        let cookie = "\(hostName()):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
        let header = ImageLayout.headerObject(image)
        let description = "buse writer pid \(getpid()) on \(hostName())"
        var status = librados.lock_exclusive(pool.context, header, ImageLayout.lockName, cookie, description, nil, 0)
        if (status == -EBUSY || status == -EEXIST) && breakStale {
            for holder in try holders(pool, header) {
                _ = librados.break_lock(pool.context, header, ImageLayout.lockName, holder.client, holder.cookie)
            }
            status = librados.lock_exclusive(pool.context, header, ImageLayout.lockName, cookie, description, nil, 0)
        }
        if status == -EBUSY || status == -EEXIST {
            let names = (try? holders(pool, header).map { "\($0.client) (cookie \($0.cookie), \($0.address))" }) ?? []
            throw .inUse(image: "\(pool.name)/\(image)", holder: names.isEmpty ? "another writer" : names.joined(separator: ", "))
        }
        guard status == 0 else { throw .call("lock \(header)", -status) }
        _ = librados.setxattr(pool.context, header, ImageLayout.writerAttribute, cookie, cookie.utf8.count)
        return ImageLock(pool: pool, image: image, cookie: cookie)
    }

    func release() {
        _ = librados.unlock(pool.context, ImageLayout.headerObject(image), ImageLayout.lockName, cookie)
    }

    struct Holder {
        var client: String
        var cookie: String
        var address: String
    }

    static func holders(_ pool: RadosPool, _ header: String) throws(RadosError) -> [Holder] {
        var exclusive: Int32 = 0
        let capacity = 8192
        var tag = [CChar](repeating: 0, count: capacity)
        var clients = tag, cookies = tag, addresses = tag
        var tagLength = capacity, clientsLength = capacity, cookiesLength = capacity, addressesLength = capacity
        let count = librados.list_lockers(
            pool.context, header, ImageLayout.lockName, &exclusive, &tag, &tagLength, &clients, &clientsLength,
            &cookies, &cookiesLength, &addresses, &addressesLength)
        guard count >= 0 else { throw .call("list lockers of \(header)", -Int32(count)) }
        let clientNames = split(clients, clientsLength), cookieNames = split(cookies, cookiesLength)
        let addressNames = split(addresses, addressesLength)
        return (0..<Int(count)).map { index in
            Holder(
                client: clientNames[safe: index] ?? "?", cookie: cookieNames[safe: index] ?? "?",
                address: addressNames[safe: index] ?? "?")
        }
    }

    /// librados returns several names as NUL-separated bytes.
    private static func split(_ bytes: [CChar], _ length: Int) -> [String] {
        bytes[..<min(length, bytes.count)].split(separator: 0).map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
