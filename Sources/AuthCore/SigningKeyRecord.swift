import Foundation

/// The algorithms tokens are signed with.
public enum TokenAlgorithm: String, Sendable, CaseIterable, Codable {
    /// Ed25519 (RFC 8037): verifiers need only the published public key.
    case eddsa = "EdDSA"
    /// HMAC-SHA256: every verifier holds a key that could also sign; never published.
    case hs256 = "HS256"
}

/// A key of the key set as the store keeps it: public part in the clear, private part sealed
/// under the key-encryption key (`KeyEncryptionKey`).
///
/// Life cycle: **published** from `createdAt` (in the JWK Set, verifies) but not signing until
/// `signsFrom` (created + the publish lead, so verifiers that cache the set have it before they
/// meet its tokens); **signing** from then until retired; **retired** from `retiredAt` (verifies
/// and stays published) until `expiresAt` (retired + the longest lifetime of a token it signed),
/// after which it is gone from the set and purged from the store.
public struct SigningKeyRecord: Sendable, Equatable {
    public var kid: String
    public var algorithm: TokenAlgorithm
    /// Ed25519: the raw 32-byte public key. HS256: empty (nothing is public).
    public var publicKey: [UInt8]
    /// nonce ‖ XChaCha20-Poly1305(private key or HMAC secret), associated data `associatedData`.
    public var sealedPrivateKey: [UInt8]
    public var createdAt: Date
    public var signsFrom: Date
    public var retiredAt: Date?
    public var expiresAt: Date?

    public init(kid: String, algorithm: TokenAlgorithm, publicKey: [UInt8], sealedPrivateKey: [UInt8], createdAt: Date,
                signsFrom: Date, retiredAt: Date? = nil, expiresAt: Date? = nil) {
        self.kid = kid
        self.algorithm = algorithm
        self.publicKey = publicKey
        self.sealedPrivateKey = sealedPrivateKey
        self.createdAt = createdAt
        self.signsFrom = signsFrom
        self.retiredAt = retiredAt
        self.expiresAt = expiresAt
    }

    /// A key's state at a time.
    public enum State: String, Sendable {
        case published, signing, retired
        /// Past `expiresAt`: no longer verifies; the store forgets it.
        case expired
    }

    public func state(at now: Date) -> State {
        if let expiresAt, expiresAt <= now { return .expired }
        if retiredAt.map({ $0 <= now }) ?? false { return .retired }
        return signsFrom <= now ? .signing : .published
    }

    /// What the private key is sealed with: a sealed key opens only on the row it was made for.
    var associatedData: [UInt8] { Array("authd-signing-key/\(algorithm.rawValue)/\(kid)".utf8) }

    /// A new key: Ed25519 or a 32-byte HMAC secret, its private part sealed under `encryptionKey`.
    /// It signs from `signsFrom` on.
    public static func generate(_ algorithm: TokenAlgorithm, encryptionKey: KeyEncryptionKey, createdAt: Date,
                                signsFrom: Date) -> SigningKeyRecord {
        let prefix = algorithm == .eddsa ? "ed" : "hs"
        let kid = prefix + "-" + Base64URL.encode(SecureRandom.bytes(9))
        var record = SigningKeyRecord(kid: kid, algorithm: algorithm, publicKey: [], sealedPrivateKey: [], createdAt: createdAt,
                                      signsFrom: signsFrom)
        let secret: [UInt8]
        switch algorithm {
        case .eddsa:
            let (key, privateKey) = Ed25519Key.generate()
            record.publicKey = key.publicKey
            secret = privateKey
        case .hs256:
            secret = SecureRandom.bytes(32)
        }
        record.sealedPrivateKey = encryptionKey.seal(secret, associatedData: record.associatedData)
        return record
    }
}

/// Where the key set is kept, shared by every instance (MariaDB; an in-memory one for tests).
public protocol SigningKeyStore: Sendable {
    /// Adds a key (its kid is new).
    func insertSigningKey(_ key: SigningKeyRecord) throws
    /// Every key the store holds, expired ones included until purged, oldest first.
    func signingKeys() throws -> [SigningKeyRecord]
    /// Retires a key that is not retired yet: sets `retiredAt` and `expiresAt`. False when no
    /// such key, or it was retired already.
    func retireSigningKey(kid: String, at: Date, expiresAt: Date) throws -> Bool
    /// Deletes keys whose `expiresAt` is at or before `now`; returns how many.
    func purgeSigningKeys(expiredBy now: Date) throws -> Int
}
