import Foundation

/// Client secrets of service accounts: 256 random bits, shown once, stored only as a keyed hash.
///
/// The hash is HMAC-SHA-256 of the secret under a key derived from the key-encryption key (the
/// file that seals the key set's private keys, never in the database): HMAC-SHA-256(KEK,
/// "authd service client secret v1"). A random 256-bit secret needs no slow hash (nothing to
/// guess); the key means a copy of the database alone does not even let one test a guess.
/// Comparison is constant-time.
public struct ServiceSecrets: Sendable {
    private let key: [UInt8]
    static let prefix = "cs_"
    /// Longest secret accepted on the wire (ours are 46 characters).
    static let maximumLength = 128

    public init(encryptionKey: KeyEncryptionKey) {
        key = JWTCodec.hmacSHA256(key: encryptionKey.bytes, data: Array("authd service client secret v1".utf8))
    }

    /// A new secret: "cs_" and 32 random bytes in base64url (46 characters).
    public static func generate() -> String { prefix + Base64URL.encode(SecureRandom.bytes(32)) }

    /// The stored form of a secret.
    public func hash(_ secret: String) -> [UInt8] { JWTCodec.hmacSHA256(key: key, data: Array(secret.utf8)) }

    /// Whether `secret` is the account's secret, or its previous one within the grace, at `now`.
    /// Both hashes are compared whatever the outcome of the first (constant time either way).
    public func matches(_ secret: String, account: ServiceAccountRecord, now: Date) -> Bool {
        guard secret.utf8.count <= Self.maximumLength else { return false }
        let presented = hash(secret)
        let current = Digest.equal(presented, account.secretHash)
        var previous = false
        if let old = account.previousSecretHash, let until = account.previousSecretValidUntil {
            previous = Digest.equal(presented, old) && now < until
        }
        return current || previous
    }
}
