import Crypto
public import Hummingbird
import HummingbirdAuth
import HummingbirdBcrypt
public import RegistryCore
import Synchronization

/// Checks HTTP Basic credentials against the htpasswd users of an
/// `AccessPolicy`.
///
/// bcrypt is slow on purpose (cost 10 is tens of milliseconds), so checks
/// run on a pool of their own: a flood of wrong guesses waits there and
/// never holds the storage threads or the cooperative pool. At most
/// `waitingLimit` checks wait at once; past that a request is answered 429
/// at once instead of queueing without bound.
///
/// Clients send their credentials with every request (a push is dozens),
/// and bcrypt on each would cost more than the request itself. So the last
/// password that verified for each user is remembered, as a SHA-256 keyed
/// with a random salt of this process, never as the password: a request
/// carrying the same password is accepted without bcrypt.
public final class PasswordAuthenticator: Sendable {
    /// What a request's credentials amount to.
    public enum Outcome: Sendable, Equatable {
        case user(String)
        /// None, malformed, unknown user or wrong password: a 401 with the challenge.
        case refused
        /// Too many checks already waiting: a 429.
        case busy
    }

    public let policy: AccessPolicy
    static let waitingLimit = 256

    private let pool: BlockingPool
    private let salt: [UInt8]
    private let verified = Mutex<[String: [UInt8]]>([:])
    private let waiting = Atomic<Int>(0)

    public init(policy: AccessPolicy, threadCount: Int = 2) {
        self.policy = policy
        pool = BlockingPool(threadCount: threadCount)
        var generator = SystemRandomNumberGenerator()
        salt = (0..<32).map { _ in generator.next() }
    }

    /// The user whose credentials these are, or why there is none.
    public func authenticate(_ fields: HTTPFields) async -> Outcome {
        guard let credentials = fields.basic, let hash = policy.users.hashes[credentials.username] else { return .refused }
        let user = credentials.username
        let fingerprint = fingerprint(of: credentials.password)
        if verified.withLock({ $0[user] }).map({ Self.same($0, fingerprint) }) == true { return .user(user) }
        guard waiting.add(1, ordering: .relaxed).newValue <= Self.waitingLimit else {
            waiting.subtract(1, ordering: .relaxed)
            return .busy
        }
        let password = credentials.password
        let matches = await pool.run { Bcrypt.verify(password, hash: hash) }
        waiting.subtract(1, ordering: .relaxed)
        guard matches else { return .refused }
        verified.withLock { $0[user] = fingerprint }
        return .user(user)
    }

    private func fingerprint(of password: String) -> [UInt8] {
        var hasher = SHA256()
        salt.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        Array(password.utf8).withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    /// Equal digests, compared in time that does not depend on where they differ.
    private static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
