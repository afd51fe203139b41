import CSodium
import Foundation

/// The key-encryption key: 32 bytes from a secret file that is never in the database. Private
/// signing keys are stored sealed under it with XChaCha20-Poly1305 (libsodium), a random 24-byte
/// nonce per key and the key's id and algorithm as associated data, so a sealed key copied onto
/// another row does not open. Someone who reads the database but not this file learns the public
/// keys only.
public struct KeyEncryptionKey: Sendable {
    let bytes: [UInt8]

    /// From the file's text: the 32 bytes in base64 (what `head -c 32 /dev/urandom | base64` prints).
    public init(base64 text: String) throws(ConfigurationError) {
        guard let decoded = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)).map(Array.init),
              decoded.count == 32 else {
            throw ConfigurationError("the key-encryption key must be 32 bytes in base64")
        }
        bytes = decoded
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a key-encryption key is 32 bytes")
        self.bytes = bytes
    }

    public static func random() -> KeyEncryptionKey { KeyEncryptionKey(bytes: SecureRandom.bytes(32)) }

    static let nonceSize = 24
    static let tagSize = 16

    /// nonce ‖ ciphertext ‖ tag.
    func seal(_ plaintext: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        let nonce = SecureRandom.bytes(KeyEncryptionKey.nonceSize)
        var out = [UInt8](repeating: 0, count: plaintext.count + KeyEncryptionKey.tagSize)
        var length: UInt64 = 0
        // crypto_aead_xchacha20poly1305_ietf_encrypt: 0 on success; it cannot fail on inputs this small.
        let rc = crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &length, plaintext, UInt64(plaintext.count),
                                                           associatedData, UInt64(associatedData.count), nil, nonce, bytes)
        precondition(rc == 0 && Int(length) == out.count, "XChaCha20-Poly1305 encryption failed")
        return nonce + out
    }

    /// The plaintext, or nil when the box was not sealed with this key and associated data (or was changed).
    func open(_ sealed: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard sealed.count >= KeyEncryptionKey.nonceSize + KeyEncryptionKey.tagSize, sealed.count <= 4096 else { return nil }
        let nonce = Array(sealed[..<KeyEncryptionKey.nonceSize])
        let box = Array(sealed[KeyEncryptionKey.nonceSize...])
        var out = [UInt8](repeating: 0, count: box.count - KeyEncryptionKey.tagSize)
        var length: UInt64 = 0
        // crypto_aead_xchacha20poly1305_ietf_decrypt: 0 on success, -1 when the tag does not verify.
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(&out, &length, nil, box, UInt64(box.count),
                                                           associatedData, UInt64(associatedData.count), nonce, bytes)
        guard rc == 0, Int(length) == out.count else { return nil }
        return out
    }
}
