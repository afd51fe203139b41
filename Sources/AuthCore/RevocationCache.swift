import Support
import Synchronization


/// The revoked token ids, revoked sessions and per-user cut-offs this instance knows, in memory,
/// so validation never waits on the database. Filled from the store by the poller and by local
/// revocations.
final class RevocationCache: Sendable {
    private struct Cutoff {
        var cutoff: Int64
        var adminCutoff: Int64
        var disabledCutoff: Int64
        var purgeAfter: Int64
    }

    private struct State {
        var tokens: [TokenID: Int64] = [:]  // id -> expiry (s)
        var sessions: [TokenID: Int64] = [:]  // sid -> expiry of its last access token (s)
        var cutoffs: [Int64: Cutoff] = [:]
    }

    private let state = Locked(State())
    private let changes = Atomic<UInt64>(0)

    /// Goes up every time a revocation is added (after it is in the set): a token found not
    /// revoked while the generation was G is still not revoked as long as the generation is G.
    /// The validated-token cache uses it to skip the lookup on a hit. Purging does not change it
    /// (it only forgets revocations of tokens that have expired).
    var generation: UInt64 { changes.load(ordering: .acquiring) }

    /// Why a token with these claims is refused: nil when it is not, `.disabled` when it was
    /// issued before its user was disabled, else `.revoked`.
    func refusal(_ claims: AccessClaims) -> ValidationResult? {
        state.withLock { s in
            if let c = s.cutoffs[claims.userID] {
                if claims.issuedAt <= c.disabledCutoff { return .disabled }
                if claims.issuedAt <= c.cutoff { return .revoked }
                if claims.isAdmin, claims.issuedAt <= c.adminCutoff { return .revoked }
            }
            if s.tokens[claims.tokenID] != nil { return .revoked }
            if let sid = claims.sessionID, s.sessions[sid] != nil { return .revoked }
            return nil
        }
    }

    func add(_ tokens: [RevokedTokenEntry], cutoffs: [RevocationCutoff], sessions: [RevokedSessionEntry] = []) {
        guard !tokens.isEmpty || !cutoffs.isEmpty || !sessions.isEmpty else { return }
        state.withLock { s in
            var changed = false
            for t in tokens where s.tokens.updateValue(t.expiresAt, forKey: t.id) == nil { changed = true }
            for e in sessions {
                let old = s.sessions[e.id]
                if old == nil { changed = true }
                s.sessions[e.id] = max(old ?? .min, e.expiresAt)
            }
            for c in cutoffs {
                let old = s.cutoffs[c.userID] ?? Cutoff(cutoff: 0, adminCutoff: 0, disabledCutoff: 0, purgeAfter: .min)
                if c.cutoff > old.cutoff || c.adminCutoff > old.adminCutoff || c.disabledCutoff > old.disabledCutoff { changed = true }
                s.cutoffs[c.userID] = Cutoff(cutoff: max(old.cutoff, c.cutoff), adminCutoff: max(old.adminCutoff, c.adminCutoff),
                                             disabledCutoff: max(old.disabledCutoff, c.disabledCutoff),
                                             purgeAfter: max(old.purgeAfter, c.purgeAfter))
            }
            // Inside the lock and after the change: a reader that sees the new generation finds
            // the new entries, one that saw the old generation is told to look again.
            if changed { changes.add(1, ordering: .releasing) }
        }
    }

    /// Drops entries that can no longer matter (their tokens have expired) at `now` seconds.
    func purge(now: Int64) {
        state.withLock { s in
            s.tokens = s.tokens.filter { $0.value > now }
            s.sessions = s.sessions.filter { $0.value > now }
            s.cutoffs = s.cutoffs.filter { $0.value.purgeAfter > now }
        }
    }

    var counts: (tokens: Int, cutoffs: Int) { state.withLock { ($0.tokens.count, $0.cutoffs.count) } }
}
