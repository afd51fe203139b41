import AuthAPI
import AuthCore
import Support

/// The encoded `KeysReply` of the current key set, made once per key-set change (the JWK Set is
/// the same for every caller until then).
final class KeysReplyCache: Sendable {
    private let cached = Locked<(generation: Int, bytes: [UInt8])?>(nil)

    func reply(for published: PublishedKeys) -> [UInt8] {
        if let hit = cached.withLock({ $0 }), hit.generation == published.generation { return hit.bytes }
        let bytes = KeysReply(jwksJson: published.jwks, maxAgeSeconds: published.maxAgeSeconds).serializedBytes()
        cached.withLock { $0 = (published.generation, bytes) }
        return bytes
    }
}
