import AuthCore
import Foundation

/// Every statement the store runs, once each, with the input its parameters are read from.
/// Result columns are read by the names given here.
enum SQL {
    // MARK: Session and transactions

    static let wsrepOn: Statement<Void> = "SELECT @@wsrep_on AS wsrep_on"
    /// Columns `Variable_name`, `Value`.
    static let wsrepReady: Statement<Void> = "SHOW STATUS LIKE 'wsrep_ready'"
    static let causalReads: Statement<Void> = "SET SESSION wsrep_sync_wait = 1"
    static let startTransaction: Statement<Void> = "START TRANSACTION"
    static let commit: Statement<Void> = "COMMIT"
    static let rollback: Statement<Void> = "ROLLBACK"

    // MARK: Migrations

    /// `acquired`: 1 acquired, 0 timed out, NULL on error.
    static let getLock: Statement<(name: String, timeoutSeconds: Int)> =
        "SELECT GET_LOCK(\(\.name), \(\.timeoutSeconds)) AS acquired"
    static let releaseLock: Statement<String> = "SELECT RELEASE_LOCK(\(\.self))"
    static let createMigrationsTable: Statement<Void> = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INT NOT NULL PRIMARY KEY,
            name VARCHAR(\(sql: String(ColumnWidth.migrationName))) NOT NULL,
            applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    static let appliedMigrations: Statement<Void> = "SELECT version FROM schema_migrations ORDER BY version"
    /// `INSERT IGNORE`: two instances migrating through different Galera nodes may both apply one.
    static let recordMigration: Statement<Migration> =
        "INSERT IGNORE INTO schema_migrations (version, name) VALUES (\(\.version), \(\.name))"

    // MARK: Users

    private static let userColumns = "id, email, email_key, password_hash, is_admin, registered_at_ms, disabled, last_login_ms"
    /// Breaks the unique key on `email_key` when the email is taken (the table's only unique key
    /// besides the generated id): a `.duplicate` error.
    static let insertUser: Statement<NewUser> = """
        INSERT INTO users (email, email_key, password_hash, is_admin, registered_at_ms)
        VALUES (\(\.email), \(\.emailKey), \(\.passwordHash), 0, \(\.registeredAt.millisecondsSince1970))
        """
    static let userByEmailKey: Statement<String> = "SELECT \(sql: userColumns) FROM users WHERE email_key = \(\.self)"
    static let userByID: Statement<Int64> = "SELECT \(sql: userColumns) FROM users WHERE id = \(\.self)"
    static let updatePasswordHash: Statement<(userID: Int64, hash: String)> =
        "UPDATE users SET password_hash = \(\.hash) WHERE id = \(\.userID)"
    static let setAdmin: Statement<(emailKey: String, admin: Bool)> =
        "UPDATE users SET is_admin = \(\.admin) WHERE email_key = \(\.emailKey)"

    // MARK: Revocation

    /// The current time on the server, in microseconds: the revocation feed's clock.
    private static let serverMicroseconds = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
    static let serverNow: Statement<Void> = "SELECT \(sql: serverMicroseconds) AS now_us"
    static let revokeToken: Statement<(id: TokenID, userID: Int64, expiresAt: Date)> = """
        INSERT IGNORE INTO revoked_tokens (jti, user_id, expires_at, recorded_us)
        VALUES (\(\.id), \(\.userID), \(\.expiresAt.secondsSince1970RoundedUp), \(sql: serverMicroseconds))
        """
    static let setRevocationCutoff: Statement<(userID: Int64, cutoff: Int64, purgeAfter: Date)> = """
        INSERT INTO user_token_cutoffs (user_id, cutoff, purge_after, recorded_us)
        VALUES (\(\.userID), \(\.cutoff), \(\.purgeAfter.secondsSince1970RoundedUp), \(sql: serverMicroseconds))
        ON DUPLICATE KEY UPDATE cutoff = GREATEST(cutoff, VALUES(cutoff)),
            purge_after = GREATEST(purge_after, VALUES(purge_after)), recorded_us = VALUES(recorded_us)
        """
    /// Times in seconds (`nowSeconds`) and in the feed's microseconds (`fromUs`).
    static let revokedTokensSince: Statement<(fromUs: Int64, nowSeconds: Int64)> =
        "SELECT jti, expires_at FROM revoked_tokens WHERE recorded_us >= \(\.fromUs) AND expires_at > \(\.nowSeconds)"
    static let revocationCutoffsSince: Statement<(fromUs: Int64, nowSeconds: Int64)> = """
        SELECT user_id, cutoff, admin_cutoff, disabled_cutoff, purge_after FROM user_token_cutoffs
        WHERE recorded_us >= \(\.fromUs) AND purge_after > \(\.nowSeconds)
        """
    static let setAdminCutoff: Statement<(userID: Int64, cutoff: Int64, purgeAfter: Date)> = """
        INSERT INTO user_token_cutoffs (user_id, cutoff, admin_cutoff, purge_after, recorded_us)
        VALUES (\(\.userID), 0, \(\.cutoff), \(\.purgeAfter.secondsSince1970RoundedUp), \(sql: serverMicroseconds))
        ON DUPLICATE KEY UPDATE admin_cutoff = GREATEST(admin_cutoff, VALUES(admin_cutoff)),
            purge_after = GREATEST(purge_after, VALUES(purge_after)), recorded_us = VALUES(recorded_us)
        """
    /// A shared lock on the user's cut-off row (or the gap where it would be): RevokeAll, which
    /// writes it, waits for a rotation that read it, and a rotation waits for a RevokeAll that wrote it.
    static let userCutoffShared: Statement<Int64> =
        "SELECT cutoff, disabled_cutoff FROM user_token_cutoffs WHERE user_id = \(\.self) LOCK IN SHARE MODE"
    static let revokeSession: Statement<SessionRevocation> = """
        INSERT INTO revoked_sessions (family_id, user_id, access_until, purge_after, recorded_us)
        VALUES (\(\.session), \(\.userID), \(\.times.accessTokensUntil.secondsSince1970RoundedUp),
                \(\.times.purgeAfter.secondsSince1970RoundedUp), \(sql: serverMicroseconds))
        ON DUPLICATE KEY UPDATE access_until = GREATEST(access_until, VALUES(access_until)),
            purge_after = GREATEST(purge_after, VALUES(purge_after)), recorded_us = VALUES(recorded_us)
        """
    /// Shared lock, as `userCutoffShared`, against a logout revoking the session.
    static let sessionRevokedShared: Statement<TokenID> =
        "SELECT 1 AS revoked FROM revoked_sessions WHERE family_id = \(\.self) LOCK IN SHARE MODE"
    static let revokedSessionsSince: Statement<(fromUs: Int64, nowSeconds: Int64)> =
        "SELECT family_id, access_until FROM revoked_sessions WHERE recorded_us >= \(\.fromUs) AND access_until > \(\.nowSeconds)"

    // MARK: Purging (at most 10000 rows a table per pass)

    static let purgeRevokedTokens: Statement<Int64> = "DELETE FROM revoked_tokens WHERE expires_at <= \(\.self) LIMIT 10000"
    static let purgeRevocationCutoffs: Statement<Int64> = "DELETE FROM user_token_cutoffs WHERE purge_after <= \(\.self) LIMIT 10000"
    static let purgeRevokedSessions: Statement<Int64> = "DELETE FROM revoked_sessions WHERE purge_after <= \(\.self) LIMIT 10000"
    static let purgeRefreshTokens: Statement<Int64> = "DELETE FROM refresh_tokens WHERE expires_at_ms <= \(\.self) LIMIT 10000"
    static let purgeLoginAttempts: Statement<Int64> = "DELETE FROM login_attempts WHERE at_ms < \(\.self) LIMIT 10000"
    /// Buckets last reserved before the longest window: none of their attempts still counts.
    static let purgeThrottleBuckets: Statement<Int64> = "DELETE FROM throttle_buckets WHERE last_ms < \(\.self) LIMIT 10000"

    // MARK: Refresh tokens

    static let insertRefreshToken: Statement<RefreshTokenRecord> = """
        INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at_ms, expires_at_ms, session_expires_ms,
                                    session_created_ms, client_address)
        VALUES (\(\.hash), \(\.family), \(\.userID), \(\.issuedAt.millisecondsSince1970), \(\.expiresAt.millisecondsSince1970),
                \(\.sessionExpiresAt.millisecondsSince1970), \(\.sessionCreatedAt.millisecondsSince1970),
                \({ $0.clientAddress?.truncated(to: ColumnWidth.clientAddress) }))
        """
    /// A token stored before sessions had an end has its own expiry as the session's end.
    static let refreshTokenForUpdate: Statement<[UInt8]> = """
        SELECT family_id, user_id, issued_at_ms, expires_at_ms, used_at_ms,
               COALESCE(session_expires_ms, expires_at_ms) AS session_expires_ms,
               COALESCE(session_created_ms, issued_at_ms) AS session_created_ms, client_address
        FROM refresh_tokens WHERE token_hash = \(\.self) FOR UPDATE
        """
    static let markRefreshTokenUsed: Statement<(hash: [UInt8], at: Date)> =
        "UPDATE refresh_tokens SET used_at_ms = \(\.at.millisecondsSince1970) WHERE token_hash = \(\.hash)"
    static let deleteRefreshFamily: Statement<TokenID> = "DELETE FROM refresh_tokens WHERE family_id = \(\.self)"
    static let deleteRefreshTokensOfUser: Statement<Int64> = "DELETE FROM refresh_tokens WHERE user_id = \(\.self)"

    // MARK: Login throttling

    /// Where a reservation starts: a refused one rolls back to here, leaving no row behind.
    static let throttleSavepoint: Statement<Void> = "SAVEPOINT throttle_reservation"
    static let rollbackThrottleReservation: Statement<Void> = "ROLLBACK TO SAVEPOINT throttle_reservation"
    /// Locks the bucket's row, creating it if need be. A real change (not `bucket = bucket`): on
    /// Galera only changed rows are certified.
    static let reserveThrottleBucket: Statement<(bucket: String, atMs: Int64)> = """
        INSERT INTO throttle_buckets (bucket, last_ms) VALUES (\(\.bucket), \(\.atMs))
        ON DUPLICATE KEY UPDATE reservations = reservations + 1, last_ms = GREATEST(last_ms, VALUES(last_ms))
        """
    static let countAttempts: Statement<(bucket: String, sinceMs: Int64)> =
        "SELECT COUNT(*) AS attempts FROM login_attempts WHERE bucket = \(\.bucket) AND at_ms > \(\.sinceMs)"
    /// The time of the attempt `offset` places after the oldest one in the window.
    static let attemptAtOffset: Statement<(bucket: String, sinceMs: Int64, offset: Int64)> = """
        SELECT at_ms FROM login_attempts WHERE bucket = \(\.bucket) AND at_ms > \(\.sinceMs)
        ORDER BY at_ms LIMIT 1 OFFSET \(\.offset)
        """
    static let insertAttempt: Statement<(bucket: String, atMs: Int64, attempt: TokenID)> =
        "INSERT INTO login_attempts (bucket, at_ms, attempt_id) VALUES (\(\.bucket), \(\.atMs), \(\.attempt))"
    static let deleteAttempt: Statement<TokenID> = "DELETE FROM login_attempts WHERE attempt_id = \(\.self)"

    // MARK: Known addresses

    static let recordKnownAddress: Statement<(userID: Int64, address: String, at: Date)> = """
        INSERT INTO known_addresses (user_id, address, last_success_ms)
        VALUES (\(\.userID), \({ $0.address.truncated(to: ColumnWidth.clientAddress) }), \(\.at.millisecondsSince1970))
        ON DUPLICATE KEY UPDATE last_success_ms = GREATEST(last_success_ms, VALUES(last_success_ms))
        """
    static let isKnownAddress: Statement<(userID: Int64, address: String, since: Date)> = """
        SELECT 1 AS known FROM known_addresses WHERE user_id = \(\.userID)
        AND address = \({ $0.address.truncated(to: ColumnWidth.clientAddress) }) AND last_success_ms >= \(\.since.millisecondsSince1970)
        """

    // MARK: Audit

    static let insertAudit: Statement<AuditEvent> = """
        INSERT INTO audit_events (at_ms, event, user_id, email, client_address, detail)
        VALUES (\(\.at.millisecondsSince1970), \(\.kind.rawValue), \(\.userID), \({ $0.email?.truncated(to: ColumnWidth.email) }),
                \({ $0.clientAddress?.truncated(to: ColumnWidth.clientAddress) }), \({ $0.detail?.truncated(to: ColumnWidth.auditDetail) }))
        """
    /// One row per `aggregate` key (refused attempts per throttle bucket and window): a repeat
    /// only counts.
    static let insertAggregatedAudit: Statement<(event: AuditEvent, aggregate: [UInt8])> = """
        INSERT INTO audit_events (at_ms, event, user_id, email, client_address, detail, aggregate_key)
        VALUES (\(\.event.at.millisecondsSince1970), \(\.event.kind.rawValue), \(\.event.userID),
                \({ $0.event.email?.truncated(to: ColumnWidth.email) }),
                \({ $0.event.clientAddress?.truncated(to: ColumnWidth.clientAddress) }),
                \({ $0.event.detail?.truncated(to: ColumnWidth.auditDetail) }), \(\.aggregate))
        ON DUPLICATE KEY UPDATE repeats = repeats + 1
        """
    private static let auditColumns = "at_ms, event, user_id, email, client_address, detail, repeats"
    static let auditEvents: Statement<Int> = "SELECT \(sql: auditColumns) FROM audit_events ORDER BY id DESC LIMIT \(\.self)"
    static let auditEventsOfUser: Statement<(userID: Int64, limit: Int)> =
        "SELECT \(sql: auditColumns) FROM audit_events WHERE user_id = \(\.userID) ORDER BY id DESC LIMIT \(\.limit)"

    // MARK: Accounts and sessions

    static let recordLastLogin: Statement<(userID: Int64, at: Date)> =
        "UPDATE users SET last_login_ms = GREATEST(COALESCE(last_login_ms, 0), \(\.at.millisecondsSince1970)) WHERE id = \(\.userID)"
    /// `prefix` is a LIKE pattern (escaped by the caller); keys after `after` in key order.
    static let usersPage: Statement<(prefix: String, after: String, limit: Int)> = """
        SELECT \(sql: userColumns) FROM users WHERE email_key LIKE \(\.prefix) AND email_key > \(\.after)
        ORDER BY email_key LIMIT \(\.limit)
        """
    static let userDisabled: Statement<Int64> = "SELECT disabled FROM users WHERE id = \(\.self)"
    static let setDisabled: Statement<(userID: Int64, disabled: Bool)> =
        "UPDATE users SET disabled = \(\.disabled) WHERE id = \(\.userID)"
    static let setDisabledCutoff: Statement<(userID: Int64, cutoff: Int64, purgeAfter: Date)> = """
        INSERT INTO user_token_cutoffs (user_id, cutoff, disabled_cutoff, purge_after, recorded_us)
        VALUES (\(\.userID), 0, \(\.cutoff), \(\.purgeAfter.secondsSince1970RoundedUp), \(sql: serverMicroseconds))
        ON DUPLICATE KEY UPDATE disabled_cutoff = GREATEST(disabled_cutoff, VALUES(disabled_cutoff)),
            purge_after = GREATEST(purge_after, VALUES(purge_after)), recorded_us = VALUES(recorded_us)
        """
    /// The user's sessions: families with a current refresh token.
    static let sessionsOfUser: Statement<(userID: Int64, now: Date)> = """
        SELECT family_id, COALESCE(session_created_ms, issued_at_ms) AS created_ms, issued_at_ms, client_address
        FROM refresh_tokens WHERE user_id = \(\.userID) AND used_at_ms IS NULL AND expires_at_ms > \(\.now.millisecondsSince1970)
        """
    /// Locks the user's refresh tokens (a rotation racing the revocation waits, then is refused).
    static let familiesOfUser: Statement<Int64> =
        "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = \(\.self) FOR UPDATE"
    static let familyOfUser: Statement<(userID: Int64, family: TokenID)> =
        "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = \(\.userID) AND family_id = \(\.family) FOR UPDATE"
    static let resetCode: Statement<Int64> = "SELECT code_hash, expires_ms FROM reset_codes WHERE user_id = \(\.self)"
    static let resetCodeForUpdate: Statement<Int64> =
        "SELECT code_hash, expires_ms FROM reset_codes WHERE user_id = \(\.self) FOR UPDATE"
    static let setResetCode: Statement<(userID: Int64, hash: [UInt8], expiresAt: Date)> = """
        INSERT INTO reset_codes (user_id, code_hash, expires_ms) VALUES (\(\.userID), \(\.hash), \(\.expiresAt.millisecondsSince1970))
        ON DUPLICATE KEY UPDATE code_hash = VALUES(code_hash), expires_ms = VALUES(expires_ms)
        """
    static let deleteResetCode: Statement<Int64> = "DELETE FROM reset_codes WHERE user_id = \(\.self)"
    static let purgeResetCodes: Statement<Int64> = "DELETE FROM reset_codes WHERE expires_ms <= \(\.self) LIMIT 10000"
    static let deleteUser: Statement<Int64> = "DELETE FROM users WHERE id = \(\.self)"
    static let deleteKnownAddresses: Statement<Int64> = "DELETE FROM known_addresses WHERE user_id = \(\.self)"
    /// A deleted user's audit rows keep its id and their kinds, not its email.
    static let forgetAuditEmail: Statement<Int64> = "UPDATE audit_events SET email = NULL WHERE user_id = \(\.self)"
    /// A page of the audit trail: `userID` 0 and `kind` "" match all; ids below `beforeID`.
    static let auditPage: Statement<(userID: Int64, kind: String, sinceMs: Int64, beforeID: Int64, limit: Int)> = """
        SELECT id, \(sql: auditColumns) FROM audit_events
        WHERE (\(\.userID) = 0 OR user_id = \(\.userID)) AND (\(\.kind) = '' OR event = \(\.kind))
            AND at_ms >= \(\.sinceMs) AND id < \(\.beforeID)
        ORDER BY id DESC LIMIT \(\.limit)
        """
}
