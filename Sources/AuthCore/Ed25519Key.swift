import COpenSSL

/// An Ed25519 key (RFC 8032) held by OpenSSL: a private key that signs, or a public key that only
/// verifies. Signing and verification go through the EVP one-shot API with no digest (Ed25519
/// hashes internally), each call with its own `EVP_MD_CTX`.
final class Ed25519Key: @unchecked Sendable {
    // Safe: `key` is set in init and never mutated; OpenSSL allows concurrent EVP_DigestSign /
    // EVP_DigestVerify with one EVP_PKEY as long as each call has its own EVP_MD_CTX.
    private let key: OpaquePointer
    /// The raw 32-byte public key (the JWK's `x`).
    let publicKey: [UInt8]
    let canSign: Bool

    static let signatureSize = 64
    static let keySize = 32

    private init(key: OpaquePointer, canSign: Bool) {
        self.key = key
        self.canSign = canSign
        var out = [UInt8](repeating: 0, count: Ed25519Key.keySize)
        var length = out.count
        // EVP_PKEY_get_raw_public_key: 1 on success; an Ed25519 key always has one.
        let rc = out.withUnsafeMutableBufferPointer { EVP_PKEY_get_raw_public_key(key, $0.baseAddress, &length) }
        precondition(rc == 1 && length == Ed25519Key.keySize, "EVP_PKEY_get_raw_public_key failed on an Ed25519 key")
        publicKey = out
    }

    deinit { EVP_PKEY_free(key) }

    /// A new key from 32 random bytes (the private key as RFC 8032 defines it).
    static func generate() -> (key: Ed25519Key, privateKey: [UInt8]) {
        let seed = SecureRandom.bytes(keySize)
        // A 32-byte seed is always a valid private key.
        return (try! Ed25519Key(privateKey: seed), seed)
    }

    /// The key whose raw 32-byte private key is `privateKey`.
    convenience init(privateKey: [UInt8]) throws(ConfigurationError) {
        guard privateKey.count == Ed25519Key.keySize else { throw ConfigurationError("an Ed25519 private key is 32 bytes") }
        // EVP_PKEY_new_raw_private_key: NULL on a bad length or out of memory.
        guard let key = privateKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }) else {
            throw ConfigurationError("OpenSSL refused the Ed25519 private key")
        }
        self.init(key: key, canSign: true)
    }

    /// A verify-only key from its raw 32-byte public key.
    convenience init(publicKey: [UInt8]) throws(ConfigurationError) {
        guard publicKey.count == Ed25519Key.keySize else { throw ConfigurationError("an Ed25519 public key is 32 bytes") }
        // EVP_PKEY_new_raw_public_key: NULL on a bad length or out of memory.
        guard let key = publicKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }) else {
            throw ConfigurationError("OpenSSL refused the Ed25519 public key")
        }
        self.init(key: key, canSign: false)
    }

    /// The 64-byte signature of `data`.
    func sign(_ data: [UInt8]) -> [UInt8] {
        precondition(canSign, "signing with a verify-only Ed25519 key")
        // EVP_MD_CTX_new: NULL only when out of memory.
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        var signature = [UInt8](repeating: 0, count: Ed25519Key.signatureSize)
        var length = signature.count
        // EVP_DigestSignInit / EVP_DigestSign: 1 on success; with a valid Ed25519 key and a
        // 64-byte buffer a failure is a broken library, not our input.
        let ok = EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 && signature.withUnsafeMutableBufferPointer { s in
            data.withUnsafeBufferPointer { d in EVP_DigestSign(ctx, s.baseAddress, &length, d.baseAddress, d.count) }
        } == 1
        precondition(ok && length == Ed25519Key.signatureSize, "Ed25519 signing failed inside OpenSSL")
        return signature
    }

    /// Whether `signature` (64 bytes) is this key's signature of `data`.
    func verify(_ data: UnsafeBufferPointer<UInt8>, signature: UnsafeBufferPointer<UInt8>) -> Bool {
        guard signature.count == Ed25519Key.signatureSize else { return false }
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        // EVP_DigestVerifyInit: 1 on success. EVP_DigestVerify: 1 when the signature verifies,
        // 0 or negative when it does not (or is malformed); the error queue is cleared either way.
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { preconditionFailure("EVP_DigestVerifyInit(Ed25519) failed") }
        let ok = EVP_DigestVerify(ctx, signature.baseAddress, signature.count, data.baseAddress, data.count) == 1
        if !ok { ERR_clear_error() }
        return ok
    }

    func verify(_ data: [UInt8], signature: [UInt8]) -> Bool {
        data.withUnsafeBufferPointer { d in signature.withUnsafeBufferPointer { verify(d, signature: $0) } }
    }
}
