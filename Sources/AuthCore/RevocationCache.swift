import RPCCore



/// The revoked token ids and per-user cut-offs this instance knows, in memory, so validation
/// never waits on the database. Filled from the store by the poller and by local revocations.
final class RevocationCache: Sendable {
    private struct State {
        var tokens: [TokenID: Int64] = [:]  // id -> expiry (s)
        var cutoffs: [Int64: (cutoff: Int64, purgeAfter: Int64)] = [:]
    }

    private let state = Locked(State())

    /// Whether a token with these claims is revoked.
    func isRevoked(_ claims: AccessClaims) -> Bool {
        state.withLock { s in
            if s.tokens[claims.tokenID] != nil { return true }
            if let c = s.cutoffs[claims.userID], claims.issuedAt <= c.cutoff { return true }
            return false
        }
    }

    func add(_ tokens: [RevokedTokenEntry], cutoffs: [RevocationCutoff]) {
        guard !tokens.isEmpty || !cutoffs.isEmpty else { return }
        state.withLock { s in
            for t in tokens { s.tokens[t.id] = t.expiresAt }
            for c in cutoffs {
                let old = s.cutoffs[c.userID]
                s.cutoffs[c.userID] = (max(old?.cutoff ?? .min, c.cutoff), max(old?.purgeAfter ?? .min, c.purgeAfter))
            }
        }
    }

    /// Drops entries that can no longer matter (their tokens have expired) at `now` seconds.
    func purge(now: Int64) {
        state.withLock { s in
            s.tokens = s.tokens.filter { $0.value > now }
            s.cutoffs = s.cutoffs.filter { $0.value.purgeAfter > now }
        }
    }

    var counts: (tokens: Int, cutoffs: Int) { state.withLock { ($0.tokens.count, $0.cutoffs.count) } }
}
