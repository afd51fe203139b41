import AuthCore
import Foundation

/// The auth store on MariaDB (Connector/C): a connection pool, every statement prepared with bound
/// parameters, utf8mb4, transactions where an operation must be atomic, retry on deadlock and on
/// Galera certification conflicts, and versioned migrations (`migrate()`).
///
/// Errors: `StoreError.unavailable` when no connection can be had or the server stops answering
/// within the configured timeouts; `.conflict` when a transaction still conflicts after retries.
public final class MariaDBStore: AuthStore {
    public let configuration: MariaDBConfiguration
    let pool: ConnectionPool

    /// Creates the store; no connection is opened until first use.
    public init(configuration: MariaDBConfiguration) {
        self.configuration = configuration
        pool = ConnectionPool(configuration: configuration)
    }

    /// The current time on the server, in microseconds (the revocation feed's clock, so that
    /// instances with skewed clocks still agree on it).
    static let serverMicroseconds = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
    /// How far back each poll re-reads, to catch rows whose transaction committed after a poll
    /// began although their timestamp is earlier (and clock differences between Galera nodes).
    static let feedOverlapMicroseconds: Int64 = 10_000_000

    // MARK: Running statements

    /// What an operation does, which decides what may be retried after a lost connection.
    enum Access {
        /// Reads only: rerun on another connection (and node) after a lost connection.
        case read
        /// Writes: run inside START TRANSACTION … COMMIT. A connection lost before COMMIT was sent
        /// rolled the transaction back, so it is rerun; a connection lost while committing leaves
        /// the outcome unknown: `StoreError(.unavailable, outcomeUnknown: true)`, never retried.
        case write
    }

    /// The COMMIT of a write was sent but not confirmed.
    private struct CommitUnconfirmed: Error { var error: StoreError }

    /// Runs `body` on one connection. A deadlock or certification conflict reruns the whole body
    /// (up to `conflictRetries` attempts, exponential back-off with jitter); a connection found
    /// dead is replaced (on another node when that one is gone) and the body run again, up to
    /// one attempt per endpoint plus one — for writes only while nothing can have been committed.
    @discardableResult
    func run<T>(_ access: Access = .read, _ body: (MariaDBConnection) throws -> T) throws -> T {
        var conflicts = 0
        var connectionLosses = 0
        while true {
            do {
                return try pool.withConnection { c in
                    guard access == .write else { return try body(c) }
                    try c.execute("START TRANSACTION")
                    let result: T
                    do {
                        result = try body(c)
                    } catch {
                        if !c.isBroken { _ = try? c.execute("ROLLBACK") }
                        throw error
                    }
                    do {
                        try c.execute("COMMIT")
                    } catch let error as StoreError where error.kind == .unavailable {
                        throw CommitUnconfirmed(error: error)
                    }
                    return result
                }
            } catch let failure as ConnectFailure {
                throw failure.error
            } catch let unconfirmed as CommitUnconfirmed {
                throw StoreError(.unavailable, "connection lost while committing; the write may or may not have taken effect: \(unconfirmed.error.message)",
                                 number: unconfirmed.error.number, outcomeUnknown: true)
            } catch let error as StoreError where error.kind == .conflict && conflicts + 1 < configuration.conflictRetries {
                conflicts += 1
                let ceiling = min(0.005 * Double(1 << conflicts), 0.2)
                Thread.sleep(forTimeInterval: Double.random(in: ceiling / 2...ceiling))
            } catch let error as StoreError where error.kind == .unavailable && connectionLosses < configuration.endpoints.count {
                // A pooled connection the server had closed (idle timeout, restart), or a node
                // that died: the pool has dropped that node's idle connections; take a fresh one.
                connectionLosses += 1
                _ = error
            }
        }
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
    static func date(ms: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(ms) / 1000) }
    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.up)) }

    // MARK: Migrations

    /// Applies the migrations not yet applied, in order, under the named lock
    /// `auth_migrate.<database>` so that instances starting together do not race. Returns the
    /// versions it applied.
    ///
    /// On Galera the named lock holds only on the node that took it, so two instances migrating
    /// through different nodes can run the same migration together: that is why every migration
    /// statement is idempotent (`IF NOT EXISTS`), its bookkeeping row is inserted with `INSERT
    /// IGNORE`, and a certification conflict reruns the whole pass.
    @discardableResult
    public func migrate(lockTimeout: Int = 60) throws -> [Int] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try migrateOnce(lockTimeout: lockTimeout)
            } catch let error as StoreError where error.kind == .conflict && attempt < configuration.conflictRetries {
                Thread.sleep(forTimeInterval: Double.random(in: 0.01...0.05) * Double(attempt))
            } catch let failure as ConnectFailure {
                throw failure.error
            }
        }
    }

    private func migrateOnce(lockTimeout: Int) throws -> [Int] {
        try pool.withConnection { c in
            let lockName = String("auth_migrate.\(configuration.database)".prefix(64))
            // GET_LOCK: 1 acquired, 0 timed out, NULL on error.
            let got = try c.execute("SELECT GET_LOCK(?, ?)", [.text(lockName), .int(Int64(lockTimeout))]).rows.first?.int(0)
            guard got == 1 else { throw StoreError(.unavailable, "migration lock not acquired within \(lockTimeout) s") }
            defer { _ = try? c.execute("SELECT RELEASE_LOCK(?)", [.text(lockName)]) }
            try c.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INT NOT NULL PRIMARY KEY,
                    name VARCHAR(200) NOT NULL,
                    applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """)
            let applied = Set(try c.execute("SELECT version FROM schema_migrations").rows.compactMap { $0.int(0) })
            var done: [Int] = []
            for m in Migrations.all where !applied.contains(Int64(m.version)) {
                for statement in m.statements { try c.execute(statement) }
                try c.execute("INSERT IGNORE INTO schema_migrations (version, name) VALUES (?, ?)", [.int(Int64(m.version)), .text(m.name)])
                done.append(m.version)
            }
            return done
        }
    }

    /// The applied migration versions.
    public func appliedMigrations() throws -> [Int] {
        try run(.read) { c in try c.execute("SELECT version FROM schema_migrations ORDER BY version").rows.compactMap { $0.int(0).map(Int.init) } }
    }

    // MARK: AuthStore

    public func isHealthy() -> Bool {
        (try? pool.withConnection { c in c.ping() }) ?? false
    }

    public func createUser(_ user: NewUser) throws -> CreateUserResult {
        do {
            let r = try run(.write) { c in
                try c.execute("INSERT INTO users (email, email_key, password_hash, is_admin, registered_at_ms) VALUES (?, ?, ?, 0, ?)",
                              [.text(user.email), .text(user.emailKey), .text(user.passwordHash), .int(Self.ms(user.registeredAt))])
            }
            return .created(userID: Int64(r.insertID))
        } catch let e as StoreError where e.number == 1062 {  // ER_DUP_ENTRY
            return .emailTaken
        }
    }

    /// The user and its first refresh token in one transaction.
    public func createUser(_ user: NewUser, firstRefreshToken t: RefreshTokenRecord) throws -> CreateUserResult {
        do {
            let id = try run(.write) { c -> Int64 in
                let id = Int64(try c.execute("INSERT INTO users (email, email_key, password_hash, is_admin, registered_at_ms) VALUES (?, ?, ?, 0, ?)",
                                             [.text(user.email), .text(user.emailKey), .text(user.passwordHash), .int(Self.ms(user.registeredAt))]).insertID)
                try c.execute("INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
                              [.bytes(t.hash), .bytes(t.family.bytes), .int(id), .int(Self.ms(t.issuedAt)), .int(Self.ms(t.expiresAt))])
                return id
            }
            return .created(userID: id)
        } catch let e as StoreError where e.number == 1062 && e.message.contains("users_email_key") {  // ER_DUP_ENTRY
            return .emailTaken
        }
    }

    private static let userColumns = "id, email, email_key, password_hash, is_admin, registered_at_ms"

    private static func user(_ row: Row) -> UserRecord? {
        guard let id = row.int(0), let email = row.string(1), let key = row.string(2), let hash = row.string(3),
              let admin = row.int(4), let at = row.int(5) else { return nil }
        return UserRecord(id: id, email: email, emailKey: key, passwordHash: hash, isAdmin: admin != 0, registeredAt: date(ms: at))
    }

    public func user(emailKey: String) throws -> UserRecord? {
        try run(.read) { c in
            try c.execute("SELECT \(Self.userColumns) FROM users WHERE email_key = ?", [.text(emailKey)]).rows.first.flatMap(Self.user)
        }
    }

    public func user(id: Int64) throws -> UserRecord? {
        try run(.read) { c in try c.execute("SELECT \(Self.userColumns) FROM users WHERE id = ?", [.int(id)]).rows.first.flatMap(Self.user) }
    }

    public func updatePasswordHash(userID: Int64, hash: String) throws {
        try run(.write) { c in try c.execute("UPDATE users SET password_hash = ? WHERE id = ?", [.text(hash), .int(userID)]) }
    }

    public func setAdmin(emailKey: String, admin: Bool) throws -> Bool {
        try run(.write) { c in
            try c.execute("UPDATE users SET is_admin = ? WHERE email_key = ?", [.int(admin ? 1 : 0), .text(emailKey)]).affectedRows > 0
        }
    }

    public func revokeToken(_ id: TokenID, userID: Int64, expiresAt: Date) throws {
        try run(.write) { c in
            try c.execute("INSERT IGNORE INTO revoked_tokens (jti, user_id, expires_at, recorded_us) VALUES (?, ?, ?, \(Self.serverMicroseconds))",
                          [.bytes(id.bytes), .int(userID), .int(Self.seconds(expiresAt))])
        }
    }

    public func setRevocationCutoff(userID: Int64, cutoff: Int64, purgeAfter: Date) throws {
        try run(.write) { c in
            try c.execute("""
                INSERT INTO user_token_cutoffs (user_id, cutoff, purge_after, recorded_us) VALUES (?, ?, ?, \(Self.serverMicroseconds))
                ON DUPLICATE KEY UPDATE cutoff = GREATEST(cutoff, VALUES(cutoff)),
                    purge_after = GREATEST(purge_after, VALUES(purge_after)), recorded_us = VALUES(recorded_us)
                """, [.int(userID), .int(cutoff), .int(Self.seconds(purgeAfter))])
        }
    }

    public func revocations(since cursor: RevocationCursor?, now: Date) throws -> RevocationBatch {
        try run(.read) { c in
            guard let serverNow = try c.execute("SELECT \(Self.serverMicroseconds)").rows.first?.int(0) else {
                throw StoreError(.failure, "server clock unreadable")
            }
            let from = cursor.map { $0.value - Self.feedOverlapMicroseconds } ?? Int64.min
            let nowSeconds = Int64(now.timeIntervalSince1970)
            let tokens = try c.execute("SELECT jti, expires_at FROM revoked_tokens WHERE recorded_us >= ? AND expires_at > ?",
                                       [.int(from), .int(nowSeconds)]).rows.compactMap { row -> RevokedTokenEntry? in
                guard let id = row.bytes(0).flatMap({ TokenID(bytes: $0) }), let exp = row.int(1) else { return nil }
                return RevokedTokenEntry(id: id, expiresAt: exp)
            }
            let cutoffs = try c.execute("SELECT user_id, cutoff, purge_after FROM user_token_cutoffs WHERE recorded_us >= ? AND purge_after > ?",
                                        [.int(from), .int(nowSeconds)]).rows.compactMap { row -> RevocationCutoff? in
                guard let u = row.int(0), let cut = row.int(1), let p = row.int(2) else { return nil }
                return RevocationCutoff(userID: u, cutoff: cut, purgeAfter: p)
            }
            return RevocationBatch(tokens: tokens, cutoffs: cutoffs, next: RevocationCursor(serverNow))
        }
    }

    public func purgeExpired(now: Date, attemptsBefore: Date) throws -> Int {
        try run(.write) { c in
            let s = Int64(now.timeIntervalSince1970)
            var n: UInt64 = 0
            n += try c.execute("DELETE FROM revoked_tokens WHERE expires_at <= ? LIMIT 10000", [.int(s)]).affectedRows
            n += try c.execute("DELETE FROM user_token_cutoffs WHERE purge_after <= ? LIMIT 10000", [.int(s)]).affectedRows
            n += try c.execute("DELETE FROM refresh_tokens WHERE expires_at_ms <= ? LIMIT 10000", [.int(Self.ms(now))]).affectedRows
            n += try c.execute("DELETE FROM login_attempts WHERE at_ms < ? LIMIT 10000", [.int(Self.ms(attemptsBefore))]).affectedRows
            return Int(n)
        }
    }

    public func insertRefreshToken(_ t: RefreshTokenRecord) throws {
        try run(.write) { c in
            try c.execute("INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
                          [.bytes(t.hash), .bytes(t.family.bytes), .int(t.userID), .int(Self.ms(t.issuedAt)), .int(Self.ms(t.expiresAt))])
        }
    }

    public func rotateRefreshToken(presentedHash: [UInt8], replacementHash: [UInt8], replacementExpiresAt: Date,
                                   now: Date) throws -> RefreshRotation {
        try run(.write) { c in
            guard let row = try c.execute("SELECT family_id, user_id, expires_at_ms, used_at_ms FROM refresh_tokens WHERE token_hash = ? FOR UPDATE",
                                          [.bytes(presentedHash)]).rows.first,
                  let family = row.bytes(0).flatMap({ TokenID(bytes: $0) }), let userID = row.int(1), let expires = row.int(2) else {
                return .notFound
            }
            if row.columns[3] != nil {
                try c.execute("DELETE FROM refresh_tokens WHERE family_id = ?", [.bytes(family.bytes)])
                return .reused(userID: userID, family: family)
            }
            if expires <= Self.ms(now) { return .expired }
            try c.execute("UPDATE refresh_tokens SET used_at_ms = ? WHERE token_hash = ?", [.int(Self.ms(now)), .bytes(presentedHash)])
            try c.execute("INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
                          [.bytes(replacementHash), .bytes(family.bytes), .int(userID), .int(Self.ms(now)), .int(Self.ms(replacementExpiresAt))])
            return .rotated(userID: userID, family: family)
        }
    }

    public func revokeRefreshFamily(_ family: TokenID) throws {
        try run(.write) { c in try c.execute("DELETE FROM refresh_tokens WHERE family_id = ?", [.bytes(family.bytes)]) }
    }

    public func revokeRefreshTokens(userID: Int64) throws {
        try run(.write) { c in try c.execute("DELETE FROM refresh_tokens WHERE user_id = ?", [.int(userID)]) }
    }

    public func acquireAttempt(_ attempt: TokenID, buckets: [ThrottleBucket], now: Date) throws -> ThrottleDecision {
        try run(.write) { c in
            // Lock every bucket row (in key order, so concurrent callers cannot deadlock) before
            // counting: a second caller waits here until the first has committed its attempt.
            let sorted = buckets.sorted { $0.key < $1.key }
            for b in sorted {
                // A real change (not `bucket = bucket`): on Galera only changed rows are certified.
                try c.execute("INSERT INTO throttle_buckets (bucket) VALUES (?) ON DUPLICATE KEY UPDATE reservations = reservations + 1",
                              [.text(b.key)])
            }
            let nowMs = Self.ms(now)
            var retryAfterMs: Int64 = 0
            for b in sorted {
                let since = nowMs - Int64(b.window * 1000)
                let count = try c.execute("SELECT COUNT(*) FROM login_attempts WHERE bucket = ? AND at_ms > ?",
                                          [.text(b.key), .int(since)]).rows.first?.int(0) ?? 0
                guard count >= Int64(b.limit) else { continue }
                // The slot frees when the (count - limit + 1)-th oldest attempt leaves the window.
                let oldest = try c.execute("SELECT at_ms FROM login_attempts WHERE bucket = ? AND at_ms > ? ORDER BY at_ms LIMIT 1 OFFSET ?",
                                           [.text(b.key), .int(since), .int(count - Int64(b.limit))]).rows.first?.int(0) ?? nowMs
                retryAfterMs = max(retryAfterMs, oldest + Int64(b.window * 1000) - nowMs, 1)
            }
            if retryAfterMs > 0 { return .denied(retryAfter: TimeInterval(retryAfterMs) / 1000) }
            for b in sorted {
                try c.execute("INSERT INTO login_attempts (bucket, at_ms, attempt_id) VALUES (?, ?, ?)",
                              [.text(b.key), .int(nowMs), .bytes(attempt.bytes)])
            }
            return .granted
        }
    }

    public func releaseAttempt(_ attempt: TokenID) throws {
        try run(.write) { c in try c.execute("DELETE FROM login_attempts WHERE attempt_id = ?", [.bytes(attempt.bytes)]) }
    }

    public func recordLoginSuccess(userID: Int64, address: String, at: Date) throws {
        try run(.write) { c in
            try c.execute(Self.recordKnownAddress, [.int(userID), .text(String(address.prefix(80))), .int(Self.ms(at))])
        }
    }

    /// One transaction: the attempt released, the address known, the refresh token and the audit row.
    public func completeLogin(_ login: CompletedLogin) throws {
        let t = login.refreshToken, e = login.audit
        try run(.write) { c in
            try c.execute("DELETE FROM login_attempts WHERE attempt_id = ?", [.bytes(login.attempt.bytes)])
            if let address = login.address {
                try c.execute(Self.recordKnownAddress, [.int(t.userID), .text(String(address.prefix(80))), .int(Self.ms(login.at))])
            }
            try c.execute("INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
                          [.bytes(t.hash), .bytes(t.family.bytes), .int(t.userID), .int(Self.ms(t.issuedAt)), .int(Self.ms(t.expiresAt))])
            try c.execute(Self.insertAudit, Self.auditValues(e))
        }
    }

    public func isKnownAddress(userID: Int64, address: String, since: Date) throws -> Bool {
        try run(.read) { c in
            !(try c.execute("SELECT 1 FROM known_addresses WHERE user_id = ? AND address = ? AND last_success_ms >= ?",
                            [.int(userID), .text(String(address.prefix(80))), .int(Self.ms(since))]).rows.isEmpty)
        }
    }

    public func appendAudit(_ e: AuditEvent) throws {
        try run(.write) { c in try c.execute(Self.insertAudit, Self.auditValues(e)) }
    }

    static let recordKnownAddress = """
        INSERT INTO known_addresses (user_id, address, last_success_ms) VALUES (?, ?, ?)
        ON DUPLICATE KEY UPDATE last_success_ms = GREATEST(last_success_ms, VALUES(last_success_ms))
        """
    static let insertAudit = "INSERT INTO audit_events (at_ms, event, user_id, email, client_address, detail) VALUES (?, ?, ?, ?, ?, ?)"

    static func auditValues(_ e: AuditEvent) -> [SQLValue] {
        func opt(_ s: String?, _ n: Int) -> SQLValue { s.map { .text(String($0.prefix(n))) } ?? .null }
        return [.int(Self.ms(e.at)), .text(e.kind.rawValue), e.userID.map { .int($0) } ?? .null,
                opt(e.email, 254), opt(e.clientAddress, 80), opt(e.detail, 255)]
    }

    public func auditEvents(userID: Int64?, limit: Int) throws -> [AuditEvent] {
        try run(.read) { c in
            let columns = "SELECT at_ms, event, user_id, email, client_address, detail FROM audit_events"
            let rows = if let userID {
                try c.execute("\(columns) WHERE user_id = ? ORDER BY id DESC LIMIT ?", [.int(userID), .int(Int64(limit))]).rows
            } else {
                try c.execute("\(columns) ORDER BY id DESC LIMIT ?", [.int(Int64(limit))]).rows
            }
            return rows.compactMap { r -> AuditEvent? in
                guard let at = r.int(0), let kind = r.string(1).flatMap(AuditEvent.Kind.init(rawValue:)) else { return nil }
                return AuditEvent(at: Self.date(ms: at), kind: kind, userID: r.int(2), email: r.string(3),
                                  clientAddress: r.string(4), detail: r.string(5))
            }
        }
    }
}

/// Database-level operations for set-up and tests: create and drop a database by name.
public enum MariaDBAdministration {
    /// Creates database `name` (letters, digits and `_` only) with utf8mb4; connects without a default database.
    public static func createDatabase(_ name: String, using configuration: MariaDBConfiguration) throws {
        try run("CREATE DATABASE IF NOT EXISTS `\(try checked(name))` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", configuration)
    }

    public static func dropDatabase(_ name: String, using configuration: MariaDBConfiguration) throws {
        try run("DROP DATABASE IF EXISTS `\(try checked(name))`", configuration)
    }

    private static func checked(_ name: String) throws -> String {
        guard !name.isEmpty, name.count <= 64, name.utf8.allSatisfy({ $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) }) else {
            throw StoreError(.failure, "database names are letters, digits and _ only")
        }
        return name
    }

    private static func run(_ sql: String, _ configuration: MariaDBConfiguration) throws {
        var c = configuration
        c.database = ""
        do {
            try MariaDBConnection.connect(c).execute(sql)
        } catch let failure as ConnectFailure {
            throw failure.error
        }
    }
}
