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

    /// One transaction. The session row is written before the family is deleted: a rotation of
    /// the family that started first holds its token row, so the delete waits for it and then
    /// deletes its replacement too; one that starts later waits on the session row and refuses.
    public func revokeSession(_ session: SessionRevocation, token: RevokedTokenEntry?) throws(StoreError) {
        try run(.write) { c in
            if let token {
                try c.execute(SQL.revokeToken, (token.id, session.userID, Date(timeIntervalSince1970: TimeInterval(token.expiresAt))))
            }
            try c.execute(SQL.revokeSession, session)
            try c.execute(SQL.deleteRefreshFamily, session.session)
        }
    }

    /// One transaction; the cut-off first, for the reason `revokeSession` writes the session first.
    public func revokeUserTokens(userID: Int64, cutoff: Int64, purgeAfter: Date) throws(StoreError) {
        try run(.write) { c in
            try c.execute(SQL.setRevocationCutoff, (userID, cutoff, purgeAfter))
            try c.execute(SQL.deleteRefreshTokensOfUser, userID)
        }
    }

    public func withdrawAdmin(emailKey: String, cutoff: Int64, purgeAfter: Date) throws(StoreError) -> Bool {
        try run(.write) { c in
            guard let row = try c.execute(SQL.userByEmailKey, emailKey).rows.first else { return false }
            let id: Int64 = try row["id"]
            try c.execute(SQL.setAdmin, (emailKey, false))
            try c.execute(SQL.setAdminCutoff, (id, cutoff, purgeAfter))
            return true
        }
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
                RevocationCutoff(userID: try row["user_id"], cutoff: try row["cutoff"], adminCutoff: try row["admin_cutoff"],
                                 disabledCutoff: try row["disabled_cutoff"], purgeAfter: try row["purge_after"])
            }
            let sessions = try c.execute(SQL.revokedSessionsSince, window).rows.map { row in
                RevokedSessionEntry(id: try row["family_id"], expiresAt: try row["access_until"])
            }
            return RevocationBatch(tokens: tokens, cutoffs: cutoffs, sessions: sessions, next: RevocationCursor(serverNow))
        }
    }

    public func purgeExpired(now: Date, attemptsBefore: Date) throws(StoreError) -> Int {
        try run(.write) { c in
            let seconds = Int64(now.timeIntervalSince1970)
            var n: UInt64 = 0
            n += try c.execute(SQL.purgeRevokedTokens, seconds).affectedRows
            n += try c.execute(SQL.purgeRevocationCutoffs, seconds).affectedRows
            n += try c.execute(SQL.purgeRevokedSessions, seconds).affectedRows
            n += try c.execute(SQL.purgeRefreshTokens, now.millisecondsSince1970).affectedRows
            n += try c.execute(SQL.purgeLoginAttempts, attemptsBefore.millisecondsSince1970).affectedRows
            n += try c.execute(SQL.purgeThrottleBuckets, attemptsBefore.millisecondsSince1970).affectedRows
            n += try c.execute(SQL.purgeResetCodes, now.millisecondsSince1970).affectedRows
            return Int(n)
        }
    }
}
