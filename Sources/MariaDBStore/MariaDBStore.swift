import AuthCore
import Foundation

/// The auth store on MariaDB (Connector/C): a connection pool, every statement prepared with bound
/// parameters, utf8mb4, transactions where an operation must be atomic, retry on deadlock and on
/// Galera certification conflicts, and versioned migrations (`migrate()`).
///
/// Where things are: the statements in `SQL`, running them with retries in `Transactions.swift`,
/// the schema in `Migrations.swift`, revocations in `MariaDBStore+Revocation.swift`, operator
/// reads and writes in `Administration.swift`.
///
/// Every method throws `StoreError` only: `.unavailable` when no connection can be had or the
/// server stops answering within the configured timeouts; `.conflict` when a transaction still
/// conflicts after retries. The driver's error is the `cause` (a `MariaDBError`).
public final class MariaDBStore: AuthStore {
    public let configuration: MariaDBConfiguration
    let pool: ConnectionPool

    /// The pool's connections now: in use, idle, and the pool's size (for metrics).
    public var poolConnections: (inUse: Int, idle: Int, max: Int) {
        let counts = pool.counts
        return (counts.open - counts.idle, counts.idle, configuration.poolSize)
    }

    /// Creates the store; no connection is opened until first use.
    public init(configuration: MariaDBConfiguration) {
        self.configuration = configuration
        pool = ConnectionPool(configuration: configuration)
    }

    // MARK: Users

    public func createUser(_ user: NewUser) throws(StoreError) -> CreateUserResult {
        let id = try run(.write) { c in try Self.insertUser(user, on: c) }
        return id.map { .created(userID: $0) } ?? .emailTaken
    }

    /// The user and its first refresh token in one transaction.
    public func createUser(_ user: NewUser, firstRefreshToken: RefreshTokenRecord) throws(StoreError) -> CreateUserResult {
        let id = try run(.write) { c -> Int64? in
            guard let id = try Self.insertUser(user, on: c) else { return nil }
            var token = firstRefreshToken
            token.userID = id
            try c.execute(SQL.insertRefreshToken, token)
            return id
        }
        return id.map { .created(userID: $0) } ?? .emailTaken
    }

    /// Inserts the user; nil when the email is taken (the failed insert leaves the transaction
    /// as it was).
    private static func insertUser(_ user: NewUser, on c: MariaDBConnection) throws(StoreError) -> Int64? {
        do {
            return Int64(try c.execute(SQL.insertUser, user).insertID)
        } catch where error.kind == .duplicate {
            return nil
        }
    }

    public func user(emailKey: String) throws(StoreError) -> UserRecord? {
        try run(.read) { c in try c.execute(SQL.userByEmailKey, emailKey).rows.first.map(UserRecord.init(row:)) }
    }

    public func user(id: Int64) throws(StoreError) -> UserRecord? {
        try run(.read) { c in try c.execute(SQL.userByID, id).rows.first.map(UserRecord.init(row:)) }
    }

    public func updatePasswordHash(userID: Int64, hash: String) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.updatePasswordHash, (userID, hash)) }
    }

    // MARK: Refresh tokens

    public func insertRefreshToken(_ t: RefreshTokenRecord) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.insertRefreshToken, t) }
    }

    /// One transaction. The presented token's row is locked first; then shared locks on its
    /// session's revocation row and its user's cut-off row order it against a racing logout or
    /// RevokeAll (which write those rows before deleting refresh tokens): whichever commits
    /// first, no replacement outlives the revocation. (On Galera, where locks are per node, a
    /// replacement that slipped past is refused at its own rotation by the same two checks.)
    public func rotateRefreshToken(presentedHash: [UInt8], replacementHash: [UInt8], replacementExpiresAt: Date,
                                   now: Date, onReuse: SessionRevocation.Times) throws(StoreError) -> RefreshRotation {
        try run(.write) { c in
            guard let row = try c.execute(SQL.refreshTokenForUpdate, presentedHash).rows.first else { return .notFound }
            let family: TokenID = try row["family_id"]
            let userID: Int64 = try row["user_id"]
            let issuedAtMs: Int64 = try row["issued_at_ms"]
            let expiresAtMs: Int64 = try row["expires_at_ms"]
            let sessionExpiresAtMs: Int64 = try row["session_expires_ms"]
            let usedAtMs: Int64? = try row["used_at_ms"]
            let sessionCreatedAtMs: Int64 = try row["session_created_ms"]
            let clientAddress: String? = try row["client_address"]
            if usedAtMs != nil {
                try c.execute(SQL.revokeSession, SessionRevocation(session: family, userID: userID, times: onReuse))
                try c.execute(SQL.deleteRefreshFamily, family)
                return .reused(userID: userID, family: family)
            }
            if expiresAtMs <= now.millisecondsSince1970 { return .expired }
            if !(try c.execute(SQL.sessionRevokedShared, family).rows.isEmpty) { return .revoked }
            if let cutoffs = try c.execute(SQL.userCutoffShared, userID).rows.first {
                if issuedAtMs < (try cutoffs["cutoff"] as Int64 + 1) * 1000 { return .revoked }
                if issuedAtMs < (try cutoffs["disabled_cutoff"] as Int64 + 1) * 1000 {
                    let disabled: Bool = try c.execute(SQL.userDisabled, userID).rows.first?["disabled"] ?? false
                    return disabled ? .disabled : .revoked
                }
            }
            let sessionEnd = Date(millisecondsSince1970: sessionExpiresAtMs)
            let expiresAt = min(replacementExpiresAt, sessionEnd)
            try c.execute(SQL.markRefreshTokenUsed, (presentedHash, now))
            try c.execute(SQL.insertRefreshToken, RefreshTokenRecord(hash: replacementHash, family: family, userID: userID, issuedAt: now,
                                                                     expiresAt: expiresAt, sessionExpiresAt: sessionEnd,
                                                                     sessionCreatedAt: Date(millisecondsSince1970: sessionCreatedAtMs),
                                                                     clientAddress: clientAddress))
            return .rotated(userID: userID, family: family, expiresAt: expiresAt)
        }
    }

    public func revokeRefreshFamily(_ family: TokenID) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.deleteRefreshFamily, family) }
    }

    public func revokeRefreshTokens(userID: Int64) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.deleteRefreshTokensOfUser, userID) }
    }

    // MARK: Login and registration throttling, login completion

    public func acquireAttempt(_ attempt: TokenID, buckets: [ThrottleBucket], now: Date) throws(StoreError) -> ThrottleDecision {
        try run(.write) { c in
            // Lock every bucket row (in key order, so concurrent callers cannot deadlock) before
            // counting: a second caller waits here until the first has committed its attempt.
            let sorted = buckets.sorted { $0.key < $1.key }
            let nowMs = now.millisecondsSince1970
            try c.execute(SQL.throttleSavepoint)
            for b in sorted { try c.execute(SQL.reserveThrottleBucket, (b.key, nowMs)) }
            var denial: (retryAfterMs: Int64, bucket: String)?
            for b in sorted {
                let since = nowMs - Int64(b.window * 1000)
                let count: Int64 = try c.execute(SQL.countAttempts, (b.key, since)).rows.first?["attempts"] ?? 0
                guard count >= Int64(b.limit) else { continue }
                // The slot frees when the (count - limit + 1)-th oldest attempt leaves the window.
                let oldest: Int64 = try c.execute(SQL.attemptAtOffset, (b.key, since, count - Int64(b.limit))).rows.first?["at_ms"] ?? nowMs
                let frees = max(oldest + Int64(b.window * 1000) - nowMs, 1)
                if frees > denial?.retryAfterMs ?? 0 { denial = (frees, b.key) }
            }
            if let denial {
                // A refused attempt leaves nothing behind: the bucket rows it created or touched
                // are rolled back (an inserted row's lock goes with it; the others' at COMMIT).
                try c.execute(SQL.rollbackThrottleReservation)
                return .denied(retryAfter: TimeInterval(denial.retryAfterMs) / 1000, bucket: denial.bucket)
            }
            for b in sorted { try c.execute(SQL.insertAttempt, (b.key, nowMs, attempt)) }
            return .granted
        }
    }

    public func releaseAttempt(_ attempt: TokenID) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.deleteAttempt, attempt) }
    }

    public func recordLoginSuccess(userID: Int64, address: String, at: Date) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.recordKnownAddress, (userID, address, at)) }
    }

    /// One transaction: the attempt released, the address known, the refresh token and the audit row.
    public func completeLogin(_ login: CompletedLogin) throws(StoreError) {
        try run(.write) { c in
            try c.execute(SQL.deleteAttempt, login.attempt)
            if let address = login.address {
                try c.execute(SQL.recordKnownAddress, (login.refreshToken.userID, address, login.at))
            }
            try c.execute(SQL.insertRefreshToken, login.refreshToken)
            try c.execute(SQL.recordLastLogin, (login.refreshToken.userID, login.at))
            try c.execute(SQL.insertAudit, login.audit)
        }
    }

    public func isKnownAddress(userID: Int64, address: String, since: Date) throws(StoreError) -> Bool {
        try run(.read) { c in !(try c.execute(SQL.isKnownAddress, (userID, address, since)).rows.isEmpty) }
    }
}

extension UserRecord {
    /// A row of `SQL.userByID` / `userByEmailKey`.
    init(row: Row) throws(StoreError) {
        self.init(id: try row["id"], email: try row["email"], emailKey: try row["email_key"],
                  passwordHash: try row["password_hash"], isAdmin: try row["is_admin"],
                  registeredAt: Date(millisecondsSince1970: try row["registered_at_ms"]), isDisabled: try row["disabled"],
                  lastLoginAt: (try row["last_login_ms"] as Int64?).map(Date.init(millisecondsSince1970:)))
    }
}
