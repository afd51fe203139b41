import Foundation
import Support

/// Tokens that passed verification (signature, key, structure, claims), keyed by their exact
/// bytes, with the claims verification produced: a hit skips base64url decoding, the header and
/// claims scan and the HMAC. It caches only that work, never the verdict: the caller still checks
/// expiry (with the leeway) and revocation on every hit.
///
/// Bounded: `capacity` entries in all, never more, spread over shards that each have their own
/// lock (validation runs on several I/O threads at once). Within a shard an entry lives in a
/// set of `ways` slots chosen by the hash; inserting into a full set evicts with a clock (second
/// chance): a slot read since the hand last passed is spared once.
///
/// The hash is taken from the token's last bytes (its base64url signature, an HMAC output, so
/// evenly spread for genuine tokens) mixed with a per-process seed; a lookup compares the whole
/// token, so a different token that lands in the same slot is a miss, never a hit. Only tokens
/// that verified are inserted, so nobody without a signing key can fill the cache.
///
/// Keys: a cache belongs to one `AuthCore` and outlives changes of its key set (`KeySet`): a
/// key leaves the set only once it has expired, after the last token it signed
/// (`KeySetAdministration.retire`), so by then its cached tokens are refused as expired (to
/// within the leeway). Static keys change only with a new core, so a new, empty cache.
final class ValidatedTokenCache: Sendable {
    /// What a hit hands back: the claims and the revocation generation under which the token was
    /// last found not revoked (see `RevocationCache.generation`).
    struct Hit {
        var claims: AccessClaims
        var checkedGeneration: UInt64
    }

    private struct Slot {
        var tag: UInt64 = 0
        var token: [UInt8] = []
        var claims: AccessClaims?
        var checkedGeneration: UInt64 = 0
        var referenced = false
    }

    private struct Shard {
        var slots: [Slot]
        /// The clock hand of each set.
        var hands: [UInt8]
        /// Lookups that found their token (counted under the lock the lookup takes anyway).
        var hits = 0
    }

    static let ways = 4
    /// Below this a token cannot be one of ours (the signature alone is 43 characters).
    static let minimumTokenLength = 43

    let capacity: Int
    private let shardMask: UInt64
    private let setsPerShard: Int
    private let shards: [Locked<Shard>]
    private let seed: UInt64

    /// - Parameter capacity: entries at most (rounded down to a multiple of shards × ways; 0 disables).
    init(capacity: Int, shards shardCount: Int = 64) {
        precondition(shardCount > 0 && shardCount & (shardCount - 1) == 0, "shard count must be a power of two")
        let sets = max(0, capacity / (shardCount * Self.ways))
        setsPerShard = sets
        self.capacity = sets * shardCount * Self.ways
        shardMask = UInt64(shardCount - 1)
        shards = (0..<(sets == 0 ? 0 : shardCount)).map { _ in
            Locked(Shard(slots: Array(repeating: Slot(), count: sets * ValidatedTokenCache.ways),
                         hands: Array(repeating: 0, count: sets)))
        }
        seed = SecureRandom.bytes(8).reduce(0) { $0 << 8 | UInt64($1) } | 1
    }

    var isEnabled: Bool { setsPerShard > 0 }

    /// The 64-bit tag of a token: its last 16 bytes and its length, mixed with the seed.
    private func tag(_ token: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let raw = UnsafeRawBufferPointer(token)
        let n = token.count
        let a = raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        let b = raw.loadUnaligned(fromByteOffset: n - 16, as: UInt64.self)
        var h = (a ^ seed) &* 0x9E37_79B9_7F4A_7C15
        h ^= (b &+ UInt64(n)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }

    private func place(_ tag: UInt64) -> (shard: Int, set: Int) {
        (Int(truncatingIfNeeded: tag & shardMask), Int(truncatingIfNeeded: (tag >> 8) % UInt64(setsPerShard)))
    }

    /// The entry for exactly these bytes, or nil.
    func lookup(_ token: UnsafeBufferPointer<UInt8>) -> Hit? {
        guard isEnabled, token.count >= Self.minimumTokenLength else { return nil }
        let t = tag(token)
        let (s, set) = place(t)
        return shards[s].withLock { shard -> Hit? in
            guard let i = Self.slot(holding: token, tag: t, set: set, in: shard), let claims = shard.slots[i].claims else {
                return nil
            }
            shard.slots[i].referenced = true
            shard.hits &+= 1
            return Hit(claims: claims, checkedGeneration: shard.slots[i].checkedGeneration)
        }
    }

    /// The slot of `set` that holds exactly these token bytes (a tag match alone is not enough).
    private static func slot(holding token: UnsafeBufferPointer<UInt8>, tag: UInt64, set: Int, in shard: Shard) -> Int? {
        let base = set * ways
        for i in base..<(base + ways) where shard.slots[i].tag == tag && shard.slots[i].claims != nil {
            let same = shard.slots[i].token.withUnsafeBufferPointer { stored in
                stored.count == token.count && memcmp(stored.baseAddress!, token.baseAddress!, token.count) == 0
            }
            if same { return i }
        }
        return nil
    }

    /// Remembers a verified token; `checkedGeneration` is the revocation generation read before
    /// the token was found not revoked.
    func insert(_ token: UnsafeBufferPointer<UInt8>, claims: AccessClaims, checkedGeneration: UInt64) {
        guard isEnabled, token.count >= Self.minimumTokenLength else { return }
        let t = tag(token)
        let (s, set) = place(t)
        let copy = Array(token)  // allocated outside the lock
        shards[s].withLock { shard in
            let base = set * Self.ways
            var victim = -1
            for i in base..<(base + Self.ways) where shard.slots[i].claims == nil || shard.slots[i].tag == t && shard.slots[i].token == copy {
                victim = i
                break
            }
            if victim < 0 {
                // Clock: clear the reference bit of each slot the hand passes, take the first without one.
                var hand = Int(shard.hands[set])
                while shard.slots[base + hand].referenced {
                    shard.slots[base + hand].referenced = false
                    hand = (hand + 1) % Self.ways
                }
                victim = base + hand
                shard.hands[set] = UInt8((hand + 1) % Self.ways)
            }
            shard.slots[victim] = Slot(tag: t, token: copy, claims: claims, checkedGeneration: checkedGeneration, referenced: false)
        }
    }

    /// Records that the token was found not revoked again, under a newer generation.
    func recordChecked(_ token: UnsafeBufferPointer<UInt8>, generation: UInt64) {
        guard isEnabled, token.count >= Self.minimumTokenLength else { return }
        let t = tag(token)
        let (s, set) = place(t)
        shards[s].withLock { shard in
            if let i = Self.slot(holding: token, tag: t, set: set, in: shard), shard.slots[i].checkedGeneration < generation {
                shard.slots[i].checkedGeneration = generation
            }
        }
    }

    /// Lookups that found their token, since the cache was made (for statistics; takes every
    /// shard's lock in turn).
    var hits: Int {
        shards.reduce(0) { sum, shard in sum &+ shard.withLock { $0.hits } }
    }

    /// Entries held now (for tests and statistics; takes every shard's lock in turn).
    var count: Int {
        shards.reduce(0) { sum, shard in sum + shard.withLock { $0.slots.reduce(0) { $0 + ($1.claims == nil ? 0 : 1) } } }
    }
}
