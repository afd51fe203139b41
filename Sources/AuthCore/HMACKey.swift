import COpenSSL
import Support

/// An HMAC-SHA256 key made ready once: an `EVP_MAC_CTX` initialised with the key (so its inner
/// and outer pads are hashed already) that each computation duplicates. The one-shot `HMAC()`
/// fetches the algorithm and re-derives the pads on every call, which costs more than hashing a
/// token (see docs/auth-core.md for the figures).
final class HMACKey: @unchecked Sendable {
    // Safe: `template` is initialised in init and never mutated after; concurrent
    // EVP_MAC_CTX_dup calls only read it. Each context in `spare` is used by one caller at a time
    // (taken out under the lock, put back after use).
    private let template: OpaquePointer
    private let spare = Locked<[OpaquePointer]>([])
    /// Contexts kept for reuse (about the number of threads validating at once).
    private static let spareLimit = 64

    init(secret: [UInt8]) {
        // EVP_MAC_fetch: NULL when no provider offers HMAC (a broken OpenSSL install).
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else { preconditionFailure("OpenSSL offers no HMAC") }
        defer { EVP_MAC_free(mac) }
        // EVP_MAC_CTX_new: NULL only when out of memory.
        guard let ctx = EVP_MAC_CTX_new(mac) else { preconditionFailure("EVP_MAC_CTX_new: out of memory") }
        // OSSL_PARAM keeps pointers to its key and value, read later by EVP_MAC_init: both must
        // outlive `params`. (A Swift string literal passed as the key lives only for the construct
        // call: AddressSanitizer saw EVP_MAC_init read it after it was freed.)
        let key = strdup("digest")!, digest = strdup("SHA256")!
        defer { free(key); free(digest) }
        var params = [OSSL_PARAM_construct_utf8_string(key, digest, 0), OSSL_PARAM_construct_end()]
        // EVP_MAC_init: 1 on success, 0 on failure (unknown digest: a bug of ours).
        let rc = secret.withUnsafeBufferPointer { k in EVP_MAC_init(ctx, k.baseAddress, k.count, &params) }
        precondition(rc == 1, "EVP_MAC_init(HMAC-SHA256) failed")
        template = ctx
    }

    deinit {
        EVP_MAC_CTX_free(template)
        spare.withLock { $0.forEach { EVP_MAC_CTX_free($0) } }
    }

    /// HMAC-SHA256 of `data` into `out` (32 bytes). Reuses a spare context when there is one
    /// (re-initialised without a key, HMAC restarts from the pads it keeps), else duplicates the
    /// template: no allocation in the steady state.
    func authenticate(_ data: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) {
        let ctx: OpaquePointer
        if let reused = spare.withLock({ $0.popLast() }) {
            // EVP_MAC_init with a NULL key: 1 on success; restarts the MAC with the same key.
            precondition(EVP_MAC_init(reused, nil, 0, nil) == 1, "EVP_MAC_init (restart) failed")
            ctx = reused
        } else {
            // EVP_MAC_CTX_dup: NULL only when out of memory.
            guard let fresh = EVP_MAC_CTX_dup(template) else { preconditionFailure("EVP_MAC_CTX_dup: out of memory") }
            ctx = fresh
        }
        var length = 0
        // EVP_MAC_update / EVP_MAC_final: 1 on success.
        let ok = EVP_MAC_update(ctx, data.baseAddress, data.count) == 1 && EVP_MAC_final(ctx, out, &length, 32) == 1
        precondition(ok && length == 32, "HMAC-SHA256 failed inside OpenSSL")
        let kept = spare.withLock { list -> Bool in
            guard list.count < HMACKey.spareLimit else { return false }
            list.append(ctx)
            return true
        }
        if !kept { EVP_MAC_CTX_free(ctx) }
    }

    func authenticate(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBufferPointer { d in out.withUnsafeMutableBufferPointer { authenticate(d, into: $0.baseAddress!) } }
        return out
    }
}
