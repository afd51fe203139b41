import AuthAPI
import COpenSSL
import Foundation
import RPCCore

/// Verifies authd's EdDSA access tokens without a call per token: the public keys come from the
/// `Keys` RPC, cached for the reply's `max_age_seconds` and fetched again when a token names a
/// kid the cached set lacks (a key generated since; at most one such fetch a second).
///
/// It checks the signature (Ed25519 only: the algorithm is pinned, never the header's choice),
/// `exp` and `nbf` with a leeway, and `iss`/`aud` when given. It cannot see logouts or
/// revocations: call `Validate` where a revoked token must be refused at once.
///
/// ```swift
/// let verifier = OfflineVerifier(client: Auth.Client(transport: connection))
/// let claims = try verifier.verify(token)       // throws OfflineVerifier.Failure
/// print(claims.userID)
/// ```
public final class OfflineVerifier: @unchecked Sendable {
    // @unchecked: the mutable cache is only touched under `lock`; the rest is immutable.

    /// What a verified token says.
    public struct Claims: Sendable, Equatable {
        public var userID: Int64
        public var issuedAt: Int64
        public var expiresAt: Int64
        public var tokenID: String
        public var sessionID: String?
        public var isAdmin: Bool
        public var keyID: String
    }

    /// Why a token was refused (or could not be checked).
    public enum Failure: Error, Sendable, Equatable {
        /// Not a JWS compact token with the claims authd writes.
        case malformed
        /// Not EdDSA, or its kid is not in authd's key set.
        case unknownKey
        case badSignature
        case expired
        case notYetValid
        case wrongIssuer
        case wrongAudience
        /// The key set could not be fetched (the RPC's status and message).
        case keySetUnavailable(String)
    }

    private let client: Auth.Client
    private let issuer: String?
    private let audience: String?
    private let leeway: TimeInterval
    private let now: @Sendable () -> Date
    private let lock = NSLock()
    private var keys: [String: PublicKey] = [:]
    private var fetchedAt: Date?
    private var maxAge: TimeInterval = 0
    private var lastUnknownKidFetch: Date?

    public init(client: Auth.Client, issuer: String? = nil, audience: String? = nil, leeway: TimeInterval = 30,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.now = now
    }

    /// The token's claims, or throws `Failure`.
    public func verify(_ token: String) throws(Failure) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 8192, parts.count == 3,
              let headerBytes = Self.base64URL(parts[0]), let payloadBytes = Self.base64URL(parts[1]),
              let signature = Self.base64URL(parts[2]),
              let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any],
              let payload = try? JSONSerialization.jsonObject(with: payloadBytes) as? [String: Any] else { throw .malformed }
        guard header["alg"] as? String == "EdDSA", header["crit"] == nil, let kid = header["kid"] as? String else { throw .unknownKey }
        let key = try publicKey(kid)
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard key.verify(signingInput, signature: Array(signature)) else { throw .badSignature }

        guard let sub = (payload["sub"] as? String).flatMap({ Int64($0) }), let iat = Self.integer(payload["iat"]),
              let exp = Self.integer(payload["exp"]), let jti = payload["jti"] as? String else { throw .malformed }
        let at = now().timeIntervalSince1970
        if Double(exp) + leeway <= at { throw .expired }
        if let nbf = Self.integer(payload["nbf"]), Double(nbf) - leeway > at { throw .notYetValid }
        if let issuer, payload["iss"] as? String != issuer { throw .wrongIssuer }
        if let audience {
            let aud = payload["aud"]
            let ok = (aud as? String) == audience || ((aud as? [String])?.contains(audience) ?? false)
            if !ok { throw .wrongAudience }
        }
        return Claims(userID: sub, issuedAt: iat, expiresAt: exp, tokenID: jti, sessionID: payload["sid"] as? String,
                      isAdmin: payload["adm"] as? Bool ?? false, keyID: kid)
    }

    /// The cached key for `kid`, fetching the set when the cache is stale or lacks it.
    private func publicKey(_ kid: String) throws(Failure) -> PublicKey {
        let at = now()
        let (cached, stale, mayFetchForUnknown) = lock.withLock {
            (keys[kid], fetchedAt.map { at.timeIntervalSince($0) >= maxAge } ?? true,
             lastUnknownKidFetch.map { at.timeIntervalSince($0) >= 1 } ?? true)
        }
        if let cached, !stale { return cached }
        if !stale, !mayFetchForUnknown { throw .unknownKey }
        try refresh(at: at, forUnknownKid: cached == nil)
        guard let key = lock.withLock({ keys[kid] }) else { throw .unknownKey }
        return key
    }

    /// Fetches the key set now.
    public func refresh() throws(Failure) { try refresh(at: now(), forUnknownKid: false) }

    private func refresh(at: Date, forUnknownKid: Bool) throws(Failure) {
        let reply: KeysReply
        do { reply = try client.keys(KeysRequest()) } catch let error as RPCError {
            throw .keySetUnavailable("\(error.code): \(error.message)")
        } catch {
            throw .keySetUnavailable("\(error)")
        }
        guard let document = try? JSONSerialization.jsonObject(with: Data(reply.jwksJson.utf8)) as? [String: Any],
              let entries = document["keys"] as? [[String: Any]] else { throw .keySetUnavailable("malformed JWK Set") }
        var fresh: [String: PublicKey] = [:]
        for entry in entries {
            guard entry["kty"] as? String == "OKP", entry["crv"] as? String == "Ed25519", entry["alg"] as? String == "EdDSA",
                  let kid = entry["kid"] as? String, let x = (entry["x"] as? String).flatMap({ Self.base64URL(Substring($0)) }),
                  let key = PublicKey(raw: Array(x)) else { continue }
            fresh[kid] = key
        }
        lock.withLock {
            keys = fresh
            fetchedAt = at
            maxAge = TimeInterval(max(0, reply.maxAgeSeconds))
            if forUnknownKid { lastUnknownKidFetch = at }
        }
    }

    private static func integer(_ value: Any?) -> Int64? {
        // JSON true/false arrive as NSNumbers too (objCType "c"); claims want whole numbers.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c",
              number.doubleValue == number.doubleValue.rounded(.towardZero) else { return nil }
        return number.int64Value
    }

    private static func base64URL(_ text: Substring) -> Data? {
        guard !text.contains("=") else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        s += String(repeating: "=", count: (4 - s.count % 4) % 4)
        return Data(base64Encoded: s)
    }
}

/// An Ed25519 public key held by OpenSSL.
private final class PublicKey: @unchecked Sendable {
    // Safe: set in init, never mutated; concurrent EVP_DigestVerify calls each use their own context.
    private let key: OpaquePointer

    init?(raw: [UInt8]) {
        guard raw.count == 32,
              // EVP_PKEY_new_raw_public_key: NULL on a bad length or out of memory.
              let key = raw.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) })
        else { return nil }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    func verify(_ data: [UInt8], signature: [UInt8]) -> Bool {
        guard signature.count == 64, let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        // EVP_DigestVerifyInit: 1 on success; EVP_DigestVerify: 1 when the signature verifies.
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { ERR_clear_error(); return false }
        let ok = EVP_DigestVerify(ctx, signature, signature.count, data, data.count) == 1
        if !ok { ERR_clear_error() }
        return ok
    }
}
