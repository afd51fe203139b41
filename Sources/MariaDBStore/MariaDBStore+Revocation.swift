import AuthCore
import Foundation

/// Revoked tokens and per-user cut-offs, the feed that each instance polls to follow them, and
/// the purge of expired rows.
extension MariaDBStore {
    /// How far back each poll re-reads, to catch rows whose transaction committed after a poll
    /// began although their timestamp is earlier (and clock differences between Galera nodes).
    static let feedOverlapMicroseconds: Int64 = 10_000_000

    public func revokeToken(_ id: TokenID, userID: Int64, expiresAt: Date) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.revokeToken, (id, userID, expiresAt)) }
    }

    public func setRevocationCutoff(userID: Int64, cutoff: Int64, purgeAfter: Date) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.setRevocationCutoff, (userID, cutoff, purgeAfter)) }
    }

    /// The feed's cursor is the server's clock in microseconds (not this instance's), so that
    /// instances with skewed clocks still agree on it.
    public func revocations(since cursor: RevocationCursor?, now: Date) throws(StoreError) -> RevocationBatch {
        try run(.read) { c in
            guard let serverNow: Int64 = try c.execute(SQL.serverNow).rows.first?["now_us"] else {
                throw StoreError(.failure, "server clock unreadable")
            }
            let window = (fromUs: cursor.map { $0.value - Self.feedOverlapMicroseconds } ?? Int64.min,
                          nowSeconds: Int64(now.timeIntervalSince1970))
            let tokens = try c.execute(SQL.revokedTokensSince, window).rows.map { row in
                RevokedTokenEntry(id: try row["jti"], expiresAt: try row["expires_at"])
            }
            let cutoffs = try c.execute(SQL.revocationCutoffsSince, window).rows.map { row in
                RevocationCutoff(userID: try row["user_id"], cutoff: try row["cutoff"], purgeAfter: try row["purge_after"])
            }
            return RevocationBatch(tokens: tokens, cutoffs: cutoffs, next: RevocationCursor(serverNow))
        }
    }

    public func purgeExpired(now: Date, attemptsBefore: Date) throws(StoreError) -> Int {
        try run(.write) { c in
            let seconds = Int64(now.timeIntervalSince1970)
            var n: UInt64 = 0
            n += try c.execute(SQL.purgeRevokedTokens, seconds).affectedRows
            n += try c.execute(SQL.purgeRevocationCutoffs, seconds).affectedRows
            n += try c.execute(SQL.purgeRefreshTokens, now.millisecondsSince1970).affectedRows
            n += try c.execute(SQL.purgeLoginAttempts, attemptsBefore.millisecondsSince1970).affectedRows
            n += try c.execute(SQL.purgeThrottleBuckets, attemptsBefore.millisecondsSince1970).affectedRows
            return Int(n)
        }
    }
}
