import AuthCore
import Foundation

/// The schema, as numbered migrations applied in order at start-up (see `MariaDBStore.migrate`).
/// A migration is never edited once shipped: changes come as a new one. Every statement is
/// idempotent (`IF NOT EXISTS`), so a migration interrupted half-way can run again. Column widths
/// come from `ColumnWidth`.
struct Migration {
    let version: Int
    let name: String
    let statements: [String]
}

enum Migrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "users, revocations, refresh tokens, throttling, audit", statements: [
            """
            CREATE TABLE IF NOT EXISTS users (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                email VARCHAR(\(ColumnWidth.email)) NOT NULL,
                email_key VARCHAR(\(ColumnWidth.email)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
                password_hash VARCHAR(\(ColumnWidth.passwordHash)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                is_admin TINYINT(1) NOT NULL DEFAULT 0,
                registered_at_ms BIGINT NOT NULL,
                UNIQUE KEY users_email_key (email_key)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
            """
            CREATE TABLE IF NOT EXISTS revoked_tokens (
                jti BINARY(16) NOT NULL PRIMARY KEY,
                user_id BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                recorded_us BIGINT NOT NULL,
                KEY revoked_tokens_recorded (recorded_us),
                KEY revoked_tokens_expires (expires_at)
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS user_token_cutoffs (
                user_id BIGINT NOT NULL PRIMARY KEY,
                cutoff BIGINT NOT NULL,
                purge_after BIGINT NOT NULL,
                recorded_us BIGINT NOT NULL,
                KEY user_token_cutoffs_recorded (recorded_us)
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS refresh_tokens (
                token_hash BINARY(32) NOT NULL PRIMARY KEY,
                family_id BINARY(16) NOT NULL,
                user_id BIGINT NOT NULL,
                issued_at_ms BIGINT NOT NULL,
                expires_at_ms BIGINT NOT NULL,
                used_at_ms BIGINT NULL,
                KEY refresh_tokens_family (family_id),
                KEY refresh_tokens_user (user_id),
                KEY refresh_tokens_expires (expires_at_ms)
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS throttle_buckets (
                bucket VARCHAR(\(ColumnWidth.throttleBucket)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS login_attempts (
                bucket VARCHAR(\(ColumnWidth.throttleBucket)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                at_ms BIGINT NOT NULL,
                attempt_id BINARY(16) NOT NULL,
                PRIMARY KEY (bucket, at_ms, attempt_id),
                KEY login_attempts_attempt (attempt_id),
                KEY login_attempts_at (at_ms)
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS known_addresses (
                user_id BIGINT NOT NULL,
                address VARCHAR(\(ColumnWidth.clientAddress)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                last_success_ms BIGINT NOT NULL,
                PRIMARY KEY (user_id, address)
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS audit_events (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                at_ms BIGINT NOT NULL,
                event VARCHAR(\(ColumnWidth.auditEvent)) CHARACTER SET ascii NOT NULL,
                user_id BIGINT NULL,
                email VARCHAR(\(ColumnWidth.email)) NULL,
                client_address VARCHAR(\(ColumnWidth.clientAddress)) NULL,
                detail VARCHAR(\(ColumnWidth.auditDetail)) NULL,
                KEY audit_events_user (user_id, id),
                KEY audit_events_at (at_ms)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
        ]),
        // Galera certifies only rows a transaction changes, and row locks are local to a node: a
        // throttle reservation must change its bucket rows so that two racing on different nodes
        // conflict (one is rerun and counts the other's attempt) instead of both passing.
        Migration(version: 2, name: "throttle bucket rows are written by each reservation", statements: [
            "ALTER TABLE throttle_buckets ADD COLUMN IF NOT EXISTS reservations BIGINT NOT NULL DEFAULT 0",
        ]),
        // A flood of refused attempts must not grow the database: bucket rows carry the time of
        // their last reservation so that the purge can delete them (rows from before this
        // migration read 0 and go at the next purge; a reservation recreates any it needs), and
        // the audit rows of refused attempts are aggregated, one per bucket and window
        // (`aggregate_key`, NULL for every other row), counting them in `repeats`.
        Migration(version: 3, name: "throttle buckets purged; refused attempts audited in aggregate", statements: [
            "ALTER TABLE throttle_buckets ADD COLUMN IF NOT EXISTS last_ms BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX IF NOT EXISTS throttle_buckets_last ON throttle_buckets (last_ms)",
            "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS aggregate_key BINARY(32) NULL",
            "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS repeats BIGINT NOT NULL DEFAULT 1",
            "CREATE UNIQUE INDEX IF NOT EXISTS audit_events_aggregate ON audit_events (aggregate_key)",
        ]),
        // Sessions: a revoked session revokes its access tokens (by `sid`) and refuses its refresh
        // tokens; a session ends at a fixed time that rotation carries over; withdrawing
        // administrator rights revokes the tokens that carry `adm`.
        Migration(version: 4, name: "revoked sessions, session end, admin cut-off", statements: [
            """
            CREATE TABLE IF NOT EXISTS revoked_sessions (
                family_id BINARY(16) NOT NULL PRIMARY KEY,
                user_id BIGINT NOT NULL,
                access_until BIGINT NOT NULL,
                purge_after BIGINT NOT NULL,
                recorded_us BIGINT NOT NULL,
                KEY revoked_sessions_recorded (recorded_us),
                KEY revoked_sessions_purge (purge_after)
            ) ENGINE=InnoDB
            """,
            "ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS session_expires_ms BIGINT NULL",
            "ALTER TABLE user_token_cutoffs ADD COLUMN IF NOT EXISTS admin_cutoff BIGINT NOT NULL DEFAULT 0",
        ]),
        // The key set: every instance signs and verifies with the same keys. Private keys are
        // sealed under a key-encryption key that is never in the database (KeyEncryptionKey).
        Migration(version: 5, name: "signing keys", statements: [
            """
            CREATE TABLE IF NOT EXISTS signing_keys (
                kid VARCHAR(\(ColumnWidth.keyID)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                alg VARCHAR(\(ColumnWidth.keyAlgorithm)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                public_key VARBINARY(64) NOT NULL,
                sealed_private_key VARBINARY(256) NOT NULL,
                created_ms BIGINT NOT NULL,
                not_before_signing_ms BIGINT NOT NULL,
                retired_at_ms BIGINT NULL,
                expires_ms BIGINT NULL
            ) ENGINE=InnoDB
            """,
        ]),
        // Accounts and sessions: disabled users (and the cut-off that refuses their earlier tokens
        // as such), last logins, when and from where each session began, hashed reset codes, and
        // the audit trail read by kind.
        Migration(version: 6, name: "disabled users, last login, session details, reset codes", statements: [
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled TINYINT(1) NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_ms BIGINT NULL",
            "ALTER TABLE user_token_cutoffs ADD COLUMN IF NOT EXISTS disabled_cutoff BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS session_created_ms BIGINT NULL",
            "ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS client_address VARCHAR(\(ColumnWidth.clientAddress)) CHARACTER SET ascii NULL",
            """
            CREATE TABLE IF NOT EXISTS reset_codes (
                user_id BIGINT NOT NULL PRIMARY KEY,
                code_hash BINARY(32) NOT NULL,
                expires_ms BIGINT NOT NULL
            ) ENGINE=InnoDB
            """,
            "CREATE INDEX IF NOT EXISTS audit_events_event ON audit_events (event, id)",
        ]),
        // Service identities: service accounts (client credentials as a keyed hash, the previous
        // secret for the rotation's grace, a bound client certificate) and users' roles. Their
        // tokens' cut-offs share user_token_cutoffs under negative keys (ServiceIdentity).
        Migration(version: 7, name: "service accounts, user roles", statements: [
            """
            CREATE TABLE IF NOT EXISTS service_accounts (
                client_id VARCHAR(\(ColumnWidth.clientID)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                scopes VARCHAR(\(ColumnWidth.scopeList)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                secret_hash BINARY(32) NOT NULL,
                previous_secret_hash BINARY(32) NULL,
                previous_valid_until_ms BIGINT NULL,
                cert_subject VARCHAR(\(ColumnWidth.certificateName)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
                cert_uri_san VARCHAR(\(ColumnWidth.certificateName)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
                disabled TINYINT(1) NOT NULL DEFAULT 0,
                created_ms BIGINT NOT NULL,
                UNIQUE KEY service_accounts_subject (cert_subject),
                UNIQUE KEY service_accounts_uri (cert_uri_san)
            ) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS user_roles (
                user_id BIGINT NOT NULL,
                role VARCHAR(\(ColumnWidth.role)) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                PRIMARY KEY (user_id, role)
            ) ENGINE=InnoDB
            """,
        ]),
    ]
}

extension MariaDBStore {
    /// Applies the migrations not yet applied, in order, under the named lock
    /// `auth_migrate.<database>` so that instances starting together do not race. Returns the
    /// versions it applied. Throws `.unavailable` when no connection can be had (or the lock is
    /// not acquired within `lockTimeout` seconds).
    ///
    /// On Galera the named lock holds only on the node that took it, so two instances migrating
    /// through different nodes can run the same migration together: that is why every migration
    /// statement is idempotent (`IF NOT EXISTS`), its bookkeeping row is inserted with `INSERT
    /// IGNORE`, and a certification conflict reruns the whole pass.
    @discardableResult
    public func migrate(lockTimeout: Int = 60) throws(StoreError) -> [Int] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try migrateOnce(lockTimeout: lockTimeout)
            } catch where Self.mayRetryMigration(error) && attempt < configuration.conflictRetries {
                // Every statement is idempotent (IF NOT EXISTS, INSERT IGNORE): running again is safe.
                Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.25) * Double(attempt))
            }
        }
    }

    /// A conflict, or a schema change that Galera interrupted because another node's collided with it.
    static func mayRetryMigration(_ error: StoreError) -> Bool {
        error.kind == .conflict || (error.cause as? MariaDBError)?.number == .queryInterrupted
    }

    private func migrateOnce(lockTimeout: Int) throws(StoreError) -> [Int] {
        let c = try pool.checkOut()
        defer { pool.checkIn(c) }
        let lockName = String("auth_migrate.\(configuration.database)".prefix(64))
        let acquired: Int64? = try c.execute(SQL.getLock, (lockName, lockTimeout)).rows.first?["acquired"]
        guard acquired == 1 else { throw StoreError(.unavailable, "migration lock not acquired within \(lockTimeout) s") }
        defer { _ = try? c.execute(SQL.releaseLock, lockName) }
        try c.execute(SQL.createMigrationsTable)
        var applied = Set<Int64>()
        for row in try c.execute(SQL.appliedMigrations).rows { applied.insert(try row["version"]) }
        var done: [Int] = []
        for m in Migrations.all where !applied.contains(Int64(m.version)) {
            for statement in m.statements { try c.execute(Statement(verbatim: statement)) }
            try c.execute(SQL.recordMigration, m)
            done.append(m.version)
        }
        return done
    }

    /// The applied migration versions.
    public func appliedMigrations() throws(StoreError) -> [Int] {
        try run(.read) { c in try c.execute(SQL.appliedMigrations).rows.map { row in Int(try row["version"] as Int64) } }
    }
}
