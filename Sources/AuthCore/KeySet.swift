import Foundation
import Logging
import Support

/// How the core uses a key set kept in the store (`SigningKeyStore`) instead of, or beside, the
/// HMAC secrets of `AuthConfiguration.signingKeys`.
public struct KeySetConfiguration: Sendable {
    /// Opens the private keys (never stored in the clear).
    public var encryptionKey: KeyEncryptionKey
    /// New tokens are signed by the newest signing key of this algorithm.
    public var signingAlgorithm: TokenAlgorithm
    /// How long a new key is published before it signs (`authd keys generate`).
    public var publishLead: Duration

    public init(encryptionKey: KeyEncryptionKey, signingAlgorithm: TokenAlgorithm = .eddsa,
                publishLead: Duration = AuthConfiguration.Bounds.keyPublishLead.default) {
        self.encryptionKey = encryptionKey
        self.signingAlgorithm = signingAlgorithm
        self.publishLead = publishLead
    }

    /// How long verifiers may cache the JWK Set: half the publish lead (1 s to 1 hour), so a
    /// verifier that refreshes on time has a new key before the key signs.
    public var maxAge: Int64 { max(1, min(3600, Int64(publishLead / .seconds(1)) / 2)) }
}

/// The public keys as published: the RFC 7517 JWK Set document (Ed25519 keys only) and how long
/// a verifier may cache it. `generation` changes whenever the document may have.
public struct PublishedKeys: Sendable, Equatable {
    public var jwks: String
    public var maxAgeSeconds: Int64
    public var generation: Int
}

/// A key-set failure: a key that does not open under the key-encryption key, a private key that
/// does not match its public key. The message names the kid, never key material.
public struct KeySetError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The key set one core follows: loads it from the store, opens the private keys, and installs
/// the codec that signs with the newest signing key and verifies with every unexpired one.
/// `reload()` re-reads it (the hook for SIGHUP); the core's poller calls `refresh()` every
/// revocation poll, so a key generated or retired by another instance reaches this one within the
/// revocation bound, and a key that starts signing or expires is taken up at that time.
final class KeySet: Sendable {
    let store: any SigningKeyStore
    let configuration: KeySetConfiguration
    /// HMAC keys from the configuration: they verify; one signs only while the set has no key
    /// that can.
    let staticKeys: [String: [UInt8]]
    let staticActiveKeyID: String?
    let issuer: String?
    let audience: String?
    let slot: CodecSlot
    let logger: Logger

    private struct Loaded {
        var records: [SigningKeyRecord]
        /// The next time a key's state changes by itself (starts signing, expires).
        var nextTransition: Date
        var signingKeyID: String?
        var published: PublishedKeys
    }

    private let loaded: Locked<Loaded>

    /// Loads the set; when it has no key of the signing algorithm that signs or will, first makes
    /// one that signs at once (a first start: nobody can have cached an older set).
    init(store: any SigningKeyStore, configuration: KeySetConfiguration, staticKeys: [String: [UInt8]], staticActiveKeyID: String?,
         issuer: String?, audience: String?, now: Date, logger: Logger) throws {
        self.store = store
        self.configuration = configuration
        self.staticKeys = staticKeys
        self.staticActiveKeyID = staticKeys.isEmpty ? nil : staticActiveKeyID
        self.issuer = issuer
        self.audience = audience
        self.logger = logger
        var records = try store.signingKeys()
        let usable = records.contains { $0.algorithm == configuration.signingAlgorithm && [.published, .signing].contains($0.state(at: now)) }
        if !usable {
            let key = SigningKeyRecord.generate(configuration.signingAlgorithm, encryptionKey: configuration.encryptionKey,
                                                createdAt: now, signsFrom: now)
            try store.insertSigningKey(key)
            logger.notice("key set had no signing key: made one that signs at once",
                          metadata: ["kid": "\(key.kid)", "alg": "\(key.algorithm.rawValue)"])
            records = try store.signingKeys()
        }
        let built = try KeySet.build(records, now: now, configuration: configuration, staticKeys: staticKeys,
                                     staticActiveKeyID: self.staticActiveKeyID, issuer: issuer, audience: audience)
        slot = CodecSlot(built.codec)
        loaded = Locked(Loaded(records: records, nextTransition: built.nextTransition, signingKeyID: built.signingKeyID,
                               published: PublishedKeys(jwks: built.jwks, maxAgeSeconds: configuration.maxAge, generation: 1)))
    }

    var published: PublishedKeys { loaded.withLock { $0.published } }
    var signingKeyID: String? { loaded.withLock { $0.signingKeyID } }

    /// Re-reads the set from the store and installs it. Throws (and changes nothing) when the
    /// store cannot be read or a key does not open.
    func reload(now: Date) throws {
        try install(try store.signingKeys(), now: now, force: true)
    }

    /// What the poller runs: re-reads the set and rebuilds only when it changed or a key's state
    /// changed with time; purges keys past their expiry.
    func refresh(now: Date) throws {
        let records = try store.signingKeys()
        try install(records, now: now, force: false)
        if records.contains(where: { $0.state(at: now) == .expired }) {
            let n = try store.purgeSigningKeys(expiredBy: now)
            if n > 0 { logger.notice("expired signing keys removed from the key set", metadata: ["keys": "\(n)"]) }
        }
    }

    private func install(_ records: [SigningKeyRecord], now: Date, force: Bool) throws {
        let (unchanged, generation) = loaded.withLock { ($0.records == records && now < $0.nextTransition, $0.published.generation) }
        if unchanged && !force { return }
        let built = try KeySet.build(records, now: now, configuration: configuration, staticKeys: staticKeys,
                                     staticActiveKeyID: staticActiveKeyID, issuer: issuer, audience: audience)
        slot.replace(built.codec)
        let previous = loaded.withLock { state -> String? in
            let previous = state.signingKeyID
            state = Loaded(records: records, nextTransition: built.nextTransition, signingKeyID: built.signingKeyID,
                           published: PublishedKeys(jwks: built.jwks, maxAgeSeconds: configuration.maxAge, generation: generation + 1))
            return previous
        }
        if previous != built.signingKeyID {
            logger.notice("signing key changed", metadata: ["kid": "\(built.signingKeyID ?? "none")", "previous": "\(previous ?? "none")"])
        }
    }

    struct Built {
        var codec: JWTCodec
        var signingKeyID: String?
        var jwks: String
        var nextTransition: Date
    }

    /// The codec, signer and published document for `records` at `now`.
    static func build(_ records: [SigningKeyRecord], now: Date, configuration: KeySetConfiguration, staticKeys: [String: [UInt8]],
                      staticActiveKeyID: String?, issuer: String?, audience: String?) throws -> Built {
        var keys: [JWTCodec.Key] = []
        var next = Date.distantFuture
        var live: [SigningKeyRecord] = []
        for record in records {
            let state = record.state(at: now)
            if state == .expired { continue }
            if state == .published { next = min(next, record.signsFrom) }
            if let expires = record.expiresAt { next = min(next, expires) }
            guard let secret = configuration.encryptionKey.open(record.sealedPrivateKey, associatedData: record.associatedData) else {
                throw KeySetError("signing key \(record.kid) does not open with the key-encryption key "
                                  + "(every instance sharing a database needs the same --key-encryption-key-file)")
            }
            switch record.algorithm {
            case .eddsa:
                let key: Ed25519Key
                do { key = try Ed25519Key(privateKey: secret) } catch { throw KeySetError("signing key \(record.kid): \(error)") }
                guard key.publicKey == record.publicKey else {
                    throw KeySetError("signing key \(record.kid): the private key does not match its public key")
                }
                keys.append(JWTCodec.Key(id: record.kid, verifier: .ed25519(key)))
            case .hs256:
                guard secret.count >= 32 else { throw KeySetError("signing key \(record.kid) is shorter than 32 bytes") }
                keys.append(JWTCodec.Key(id: record.kid, verifier: .hmac(HMACKey(secret: secret))))
            }
            live.append(record)
        }
        for (kid, secret) in staticKeys.sorted(by: { $0.key < $1.key }) where !keys.contains(where: { $0.kid == kid }) {
            keys.append(JWTCodec.Key(id: kid, verifier: .hmac(HMACKey(secret: secret))))
        }
        let signing = live.filter { $0.state(at: now) == .signing }
        // The newest signing key of the configured algorithm; else of any algorithm; else the
        // configured HMAC secret; else (a set whose keys all wait for their lead) the newest
        // published key, early.
        let signer = signing.filter { $0.algorithm == configuration.signingAlgorithm }.max { $0.signsFrom < $1.signsFrom }?.kid
            ?? signing.max { $0.signsFrom < $1.signsFrom }?.kid
            ?? staticActiveKeyID
            ?? live.filter { $0.state(at: now) == .published }.max { $0.createdAt < $1.createdAt }?.kid
        let codec = JWTCodec(keys: keys, activeKeyID: signer, issuer: issuer, audience: audience)
        return Built(codec: codec, signingKeyID: signer, jwks: jwks(live, now: now), nextTransition: next)
    }

    /// The RFC 7517 JWK Set of the Ed25519 keys that verify at `now` (HMAC keys are secret).
    static func jwks(_ records: [SigningKeyRecord], now: Date) -> String {
        let entries = records.filter { $0.algorithm == .eddsa && $0.state(at: now) != .expired }.map { r in
            "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"\(Base64URL.encode(r.publicKey))\",\"kid\":\(JSONText.quoted(r.kid)),"
                + "\"alg\":\"EdDSA\",\"use\":\"sig\"}"
        }
        return "{\"keys\":[" + entries.joined(separator: ",") + "]}"
    }
}

/// The operator commands on a key set (`authd keys …`): they work on the store alone, so they run
/// without a server.
public enum KeySetAdministration {
    /// Adds a key that is published at once and signs from `now + publishLead`.
    public static func generate(_ algorithm: TokenAlgorithm, store: any SigningKeyStore, encryptionKey: KeyEncryptionKey,
                                publishLead: Duration, now: Date) throws -> SigningKeyRecord {
        let key = SigningKeyRecord.generate(algorithm, encryptionKey: encryptionKey, createdAt: now,
                                            signsFrom: now.addingTimeInterval(publishLead / .seconds(1)))
        try store.insertSigningKey(key)
        return key
    }

    /// Why a retirement was refused.
    public enum RetireRefusal: Error, Sendable, CustomStringConvertible {
        case unknownKey(String)
        case alreadyRetired(String)
        /// No other key of its algorithm signs or waits to: generate one first (or force).
        case lastKey(String)

        public var description: String {
            switch self {
            case .unknownKey(let kid): "no key \(kid) in the key set"
            case .alreadyRetired(let kid): "key \(kid) is retired already"
            case .lastKey(let kid): "key \(kid) is the last key of its algorithm that signs or will: generate a new one first (or --force)"
            }
        }
    }

    /// Retires `kid` at `now`: it stops signing at once and stays published until
    /// `now + longestTokenLifetime` (the last token it signed has expired), then goes.
    public static func retire(_ kid: String, store: any SigningKeyStore, longestTokenLifetime: Duration, now: Date,
                              force: Bool = false) throws -> SigningKeyRecord {
        let records = try store.signingKeys()
        guard var key = records.first(where: { $0.kid == kid }) else { throw RetireRefusal.unknownKey(kid) }
        guard key.retiredAt == nil else { throw RetireRefusal.alreadyRetired(kid) }
        let others = records.contains { $0.kid != kid && $0.algorithm == key.algorithm && [.published, .signing].contains($0.state(at: now)) }
        guard others || force else { throw RetireRefusal.lastKey(kid) }
        let expires = now.addingTimeInterval(longestTokenLifetime / .seconds(1))
        guard try store.retireSigningKey(kid: kid, at: now, expiresAt: expires) else { throw RetireRefusal.alreadyRetired(kid) }
        key.retiredAt = now
        key.expiresAt = expires
        return key
    }

    /// The published JWK Set of the store's keys at `now`.
    public static func jwks(store: any SigningKeyStore, now: Date) throws -> String {
        KeySet.jwks(try store.signingKeys(), now: now)
    }
}
