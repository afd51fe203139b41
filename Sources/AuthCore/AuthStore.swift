import Foundation

/// Where the core keeps its state. Two implementations: `InMemoryAuthStore` (tests, dev) and
/// `MariaDBStore` (module MariaDBStore). Every method is synchronous, thread-safe and throws
/// `StoreError` (`.unavailable` when the database cannot be reached in time). Times are passed
/// in by the core (its injected clock), never read by the store, except where a method says so.
public protocol AuthStore: Sendable {
    /// Whether the store answers now (for health checks).
    func isHealthy() -> Bool

    // MARK: Users
    /// Inserts a user; `.emailTaken` when `emailKey` exists (atomically: one of many racing wins).
    func createUser(_ user: NewUser) throws -> CreateUserResult
    /// Inserts a user and its first refresh token (whose `userID` the store sets) as one atomic
    /// write, so that a registration is either wholly stored or not at all. The default runs
    /// `createUser` then `insertRefreshToken`; a store that can fail between them overrides it.
    func createUser(_ user: NewUser, firstRefreshToken: RefreshTokenRecord) throws -> CreateUserResult
    func user(emailKey: String) throws -> UserRecord?
    func user(id: Int64) throws -> UserRecord?
    func updatePasswordHash(userID: Int64, hash: String) throws
    /// Returns false when no user has that email.
    func setAdmin(emailKey: String, admin: Bool) throws -> Bool

    // MARK: Revocation
    /// Records a revoked token id until `expiresAt` (idempotent).
    func revokeToken(_ id: TokenID, userID: Int64, expiresAt: Date) throws
    /// Sets the user's cut-off: tokens issued at or before `cutoff` (whole seconds) are revoked.
    /// The row may be purged after `purgeAfter`.
    func setRevocationCutoff(userID: Int64, cutoff: Int64, purgeAfter: Date) throws
    /// Logout, as one write: the presented token's id revoked (when given), the session revoked
    /// (its access tokens through `sid`; its refresh tokens refused) and its refresh tokens deleted.
    func revokeSession(_ session: SessionRevocation, token: RevokedTokenEntry?) throws
    /// RevokeAll, as one write: the user's cut-off set (as `setRevocationCutoff`) and every refresh
    /// token of the user deleted. Refresh tokens issued at or before the cut-off are refused by
    /// `rotateRefreshToken` from then on, so one written by a racing rotation cannot survive it.
    func revokeUserTokens(userID: Int64, cutoff: Int64, purgeAfter: Date) throws
    /// Withdraws administrator rights, as one write: clears the flag and sets the user's admin
    /// cut-off (tokens that carry `adm` issued at or before `cutoff` are revoked). Returns false
    /// when no user has that email.
    func withdrawAdmin(emailKey: String, cutoff: Int64, purgeAfter: Date) throws -> Bool
    /// Revocations recorded since `cursor` (all unexpired ones when nil), and the cursor to pass next.
    /// May return entries seen before: callers merge idempotently.
    func revocations(since cursor: RevocationCursor?, now: Date) throws -> RevocationBatch
    /// Deletes expired revocations, cut-offs, revoked sessions, refresh tokens and attempt
    /// records; returns rows deleted.
    func purgeExpired(now: Date, attemptsBefore: Date) throws -> Int

    // MARK: Refresh tokens
    func insertRefreshToken(_ token: RefreshTokenRecord) throws
    /// Atomically: looks up the token whose hash is `presentedHash`; if it is current, marks it used
    /// and stores `replacement` in the same family and user, expiring at `replacementExpiresAt` or
    /// at the session's end, whichever is first. A token of a revoked session, or issued at or
    /// before its user's cut-off, is `.revoked`. If it was already used, deletes the whole family
    /// and revokes the session (`onReuse`: how long its access tokens and the row matter).
    func rotateRefreshToken(presentedHash: [UInt8], replacementHash: [UInt8], replacementExpiresAt: Date,
                            now: Date, onReuse: SessionRevocation.Times) throws -> RefreshRotation
    func revokeRefreshFamily(_ family: TokenID) throws
    func revokeRefreshTokens(userID: Int64) throws

    // MARK: Login and registration throttling
    /// Atomically: when every bucket has fewer than `limit` attempts within its window before
    /// `now`, records one attempt (id `attempt`) in each and grants; else writes nothing at all (a
    /// refused attempt must not grow the store) and denies with the time until every denying
    /// bucket frees a slot, naming the bucket that frees last. No interleaving of concurrent
    /// calls may grant more than `limit` in any window.
    func acquireAttempt(_ attempt: TokenID, buckets: [ThrottleBucket], now: Date) throws -> ThrottleDecision
    /// Removes a granted attempt (a successful login does not count as a failure).
    func releaseAttempt(_ attempt: TokenID) throws
    func recordLoginSuccess(userID: Int64, address: String, at: Date) throws
    /// Everything a successful login writes, as one write: releases the attempt, records the
    /// address as known (when there is one), stores the new refresh token and appends the audit
    /// event. The default runs the four methods in turn; MariaDB does it in one transaction (one
    /// commit instead of four).
    func completeLogin(_ login: CompletedLogin) throws
    /// Whether `address` had a successful login for the user at or after `since`.
    func isKnownAddress(userID: Int64, address: String, since: Date) throws -> Bool

    // MARK: Audit
    func appendAudit(_ event: AuditEvent) throws
    /// Appends `event` as the row of `aggregate` (a 32-byte key) or, when that row exists, adds
    /// one to its `count` instead: refused attempts are audited as one row per bucket and window.
    func appendAudit(_ event: AuditEvent, aggregate: [UInt8]) throws
    /// The newest events first, optionally of one user (for operators and tests).
    func auditEvents(userID: Int64?, limit: Int) throws -> [AuditEvent]
    /// A page of the audit trail, newest first: the events matching `query` with an id below
    /// `query.before` (all when nil), at most `query.limit`, each with its id.
    func auditEvents(_ query: AuditQuery) throws -> [(id: Int64, event: AuditEvent)]

    // MARK: Accounts and sessions
    /// Users whose email key starts with `emailKeyPrefix`, ordered by email key, after
    /// `afterEmailKey` (from the start when nil), at most `limit`.
    func users(emailKeyPrefix: String, afterEmailKey: String?, limit: Int) throws -> [UserRecord]
    /// The user's sessions: the families with a current (unused, unexpired at `now`) refresh token.
    func sessions(userID: Int64, now: Date) throws -> [SessionRecord]
    /// Ends sessions of the user as one write (each as `revokeSession`, without a token): `only`
    /// that family (nothing when it is not one of the user's), or all of them. Returns the families ended.
    func revokeSessions(userID: Int64, only: TokenID?, times: SessionRevocation.Times) throws -> [TokenID]
    /// Replaces the password hash and ends every session of the user (as `revokeSessions`), as
    /// one write; when `resetCodeHash` is given, only if it is the user's reset code, unexpired at
    /// `now` (which it uses up). Returns the families ended, or nil when the code did not match.
    func replacePassword(userID: Int64, hash: String, resetCodeHash: [UInt8]?, now: Date,
                         times: SessionRevocation.Times) throws -> [TokenID]?
    /// Disables (login and refresh refused; tokens issued at or before `cutoff` refused as
    /// disabled, through the feed) or enables the user, as one write.
    func setDisabled(userID: Int64, disabled: Bool, cutoff: Int64, purgeAfter: Date) throws
    /// Deletes the user as one write: its row (email and password hash), refresh tokens, reset
    /// code and known addresses; its sessions ended (as `revokeSessions`); its email removed from
    /// its audit rows (which keep the user id). Returns the families ended.
    func deleteUser(userID: Int64, times: SessionRevocation.Times) throws -> [TokenID]
    /// Stores the user's reset code (its hash), replacing any previous one.
    func setResetCode(userID: Int64, hash: [UInt8], expiresAt: Date) throws
    /// The user's reset code (its hash) and when it expires, when one is stored (expired or not).
    func resetCode(userID: Int64) throws -> (hash: [UInt8], expiresAt: Date)?
}

extension AuthStore {
    public func completeLogin(_ login: CompletedLogin) throws {
        try releaseAttempt(login.attempt)
        if let address = login.address { try recordLoginSuccess(userID: login.refreshToken.userID, address: address, at: login.at) }
        try insertRefreshToken(login.refreshToken)
        try appendAudit(login.audit)
    }

    public func createUser(_ user: NewUser, firstRefreshToken: RefreshTokenRecord) throws -> CreateUserResult {
        let result = try createUser(user)
        if case .created(let id) = result {
            var token = firstRefreshToken
            token.userID = id
            try insertRefreshToken(token)
        }
        return result
    }
}

/// What a successful login stores (`AuthStore.completeLogin`).
public struct CompletedLogin: Sendable {
    /// The throttle attempt to release.
    public var attempt: TokenID
    /// The client's address (normalised), to record as known; nil when unknown.
    public var address: String?
    public var at: Date
    /// The session's first refresh token (its `userID` is the user's).
    public var refreshToken: RefreshTokenRecord
    public var audit: AuditEvent

    public init(attempt: TokenID, address: String?, at: Date, refreshToken: RefreshTokenRecord, audit: AuditEvent) {
        self.attempt = attempt
        self.address = address
        self.at = at
        self.refreshToken = refreshToken
        self.audit = audit
    }
}

public struct NewUser: Sendable {
    public var email: String
    public var emailKey: String
    public var passwordHash: String
    public var registeredAt: Date
    public init(email: String, emailKey: String, passwordHash: String, registeredAt: Date) {
        self.email = email
        self.emailKey = emailKey
        self.passwordHash = passwordHash
        self.registeredAt = registeredAt
    }
}

public enum CreateUserResult: Sendable, Equatable {
    case created(userID: Int64)
    case emailTaken
}

public struct UserRecord: Sendable, Equatable {
    public var id: Int64
    public var email: String
    public var emailKey: String
    public var passwordHash: String
    public var isAdmin: Bool
    public var registeredAt: Date
    /// Set by an administrator: no login, no refresh.
    public var isDisabled: Bool
    /// The last successful login, when any.
    public var lastLoginAt: Date?
    public init(id: Int64, email: String, emailKey: String, passwordHash: String, isAdmin: Bool, registeredAt: Date,
                isDisabled: Bool = false, lastLoginAt: Date? = nil) {
        self.id = id
        self.email = email
        self.emailKey = emailKey
        self.passwordHash = passwordHash
        self.isAdmin = isAdmin
        self.registeredAt = registeredAt
        self.isDisabled = isDisabled
        self.lastLoginAt = lastLoginAt
    }
}

/// An opaque position in the revocation feed (its meaning is the store's).
public struct RevocationCursor: Sendable, Equatable {
    public var value: Int64
    public init(_ value: Int64) { self.value = value }
}

public struct RevokedTokenEntry: Sendable, Equatable {
    public var id: TokenID
    /// Seconds since 1970.
    public var expiresAt: Int64
    public init(id: TokenID, expiresAt: Int64) {
        self.id = id
        self.expiresAt = expiresAt
    }
}

public struct RevocationCutoff: Sendable, Equatable {
    public var userID: Int64
    /// Tokens with `iat` at or before this (seconds) are revoked (0: none).
    public var cutoff: Int64
    /// Tokens that carry `adm` with `iat` at or before this (seconds) are revoked (0: none): set
    /// when administrator rights are withdrawn.
    public var adminCutoff: Int64
    /// Tokens with `iat` at or before this (seconds) are refused as their user's being disabled
    /// (0: none): set when the user is disabled.
    public var disabledCutoff: Int64
    /// Seconds since 1970 after which the entry no longer matters.
    public var purgeAfter: Int64
    public init(userID: Int64, cutoff: Int64, adminCutoff: Int64 = 0, disabledCutoff: Int64 = 0, purgeAfter: Int64) {
        self.userID = userID
        self.cutoff = cutoff
        self.adminCutoff = adminCutoff
        self.disabledCutoff = disabledCutoff
        self.purgeAfter = purgeAfter
    }
}

/// A revoked session (refresh-token family) as the feed carries it: access tokens whose `sid` is
/// `id` are revoked; the entry matters until `expiresAt` (seconds), when the last of them expires.
public struct RevokedSessionEntry: Sendable, Equatable {
    public var id: TokenID
    public var expiresAt: Int64
    public init(id: TokenID, expiresAt: Int64) {
        self.id = id
        self.expiresAt = expiresAt
    }
}

/// What revoking a session stores (`AuthStore.revokeSession`, and a reuse in `rotateRefreshToken`).
public struct SessionRevocation: Sendable, Equatable {
    /// How long a session revocation matters.
    public struct Times: Sendable, Equatable {
        /// Until when access tokens of the session can still be unexpired (what the feed carries).
        public var accessTokensUntil: Date
        /// When the row may be purged: no refresh token of the session can be current after it.
        public var purgeAfter: Date
        public init(accessTokensUntil: Date, purgeAfter: Date) {
            self.accessTokensUntil = accessTokensUntil
            self.purgeAfter = purgeAfter
        }
    }
    /// The refresh-token family, the `sid` of its access tokens.
    public var session: TokenID
    public var userID: Int64
    public var times: Times
    public init(session: TokenID, userID: Int64, times: Times) {
        self.session = session
        self.userID = userID
        self.times = times
    }
}

public struct RevocationBatch: Sendable {
    public var tokens: [RevokedTokenEntry]
    public var cutoffs: [RevocationCutoff]
    public var sessions: [RevokedSessionEntry]
    public var next: RevocationCursor
    public init(tokens: [RevokedTokenEntry], cutoffs: [RevocationCutoff], sessions: [RevokedSessionEntry] = [],
                next: RevocationCursor) {
        self.tokens = tokens
        self.cutoffs = cutoffs
        self.sessions = sessions
        self.next = next
    }
}

/// A stored refresh token: only the SHA-256 of the token is kept.
public struct RefreshTokenRecord: Sendable, Equatable {
    public var hash: [UInt8]
    public var family: TokenID
    public var userID: Int64
    public var issuedAt: Date
    public var expiresAt: Date
    /// The end of the session (the family), which rotation carries over and never extends.
    public var sessionExpiresAt: Date
    /// The start of the session (its login), which rotation carries over.
    public var sessionCreatedAt: Date
    /// The client address of the session's login, when known (rotation carries it over).
    public var clientAddress: String?
    /// - Parameter sessionExpiresAt: nil: the session ends when this token expires.
    /// - Parameter sessionCreatedAt: nil: the session began when this token was issued.
    public init(hash: [UInt8], family: TokenID, userID: Int64, issuedAt: Date, expiresAt: Date, sessionExpiresAt: Date? = nil,
                sessionCreatedAt: Date? = nil, clientAddress: String? = nil) {
        self.hash = hash
        self.family = family
        self.userID = userID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.sessionExpiresAt = sessionExpiresAt ?? expiresAt
        self.sessionCreatedAt = sessionCreatedAt ?? issuedAt
        self.clientAddress = clientAddress
    }
}

public enum RefreshRotation: Sendable, Equatable {
    /// The replacement is stored; it expires at `expiresAt` (never after its session's end).
    case rotated(userID: Int64, family: TokenID, expiresAt: Date)
    case notFound
    case expired
    /// The token's session was revoked, or it was issued at or before its user's cut-off.
    case revoked
    /// The token's user is disabled (it was issued before the user was disabled).
    case disabled
    /// The token had been used before: its family was deleted.
    case reused(userID: Int64, family: TokenID)
}

/// One throttle counter: at most `limit` attempts per `window` seconds for `key`.
public struct ThrottleBucket: Sendable, Equatable {
    public var key: String
    public var limit: Int
    public var window: TimeInterval
    public init(key: String, limit: Int, window: TimeInterval) {
        self.key = key
        self.limit = limit
        self.window = window
    }
}

public enum ThrottleDecision: Sendable, Equatable {
    case granted
    /// `bucket`: the key of the denying bucket whose slot frees last (the one `retryAfter` is for).
    case denied(retryAfter: TimeInterval, bucket: String)
}

/// A security event. Never carries a password, token, refresh token, hash or key.
public struct AuditEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case register, loginSucceeded = "login_ok", loginFailed = "login_failed", loginThrottled = "login_throttled"
        case logout, refresh, refreshReuse = "refresh_reuse", revokeAll = "revoke_all", adminChanged = "admin_changed"
        case registerThrottled = "register_throttled"
        case passwordChanged = "password_changed", passwordCheckFailed = "password_check_failed"
        case sessionRevoked = "session_revoked", logoutAll = "logout_all", accountDeleted = "account_deleted"
        case userDisabled = "user_disabled", userEnabled = "user_enabled", userCreated = "user_created"
        case resetCodeIssued = "reset_code_issued", passwordReset = "password_reset", resetCodeFailed = "reset_code_failed"
        case resetThrottled = "reset_throttled", passwordCheckThrottled = "password_check_throttled"
        case serviceCreated = "service_created", serviceSecretRotated = "service_secret_rotated"
        case serviceDisabled = "service_disabled", serviceEnabled = "service_enabled", serviceDeleted = "service_deleted"
        case serviceCertificateBound = "service_cert_bound", serviceToken = "service_token"
        case serviceTokenRefused = "service_token_refused", serviceTokenThrottled = "service_token_throttled"
        case roleGranted = "role_granted", roleRevoked = "role_revoked"
    }
    public var at: Date
    public var kind: Kind
    public var userID: Int64?
    public var email: String?
    public var clientAddress: String?
    public var detail: String?
    /// How many events this one stands for: 1, except for an aggregated row (refused attempts,
    /// one row per throttle bucket and window), where `at` and the other fields are the first's.
    public var count: Int
    public init(at: Date, kind: Kind, userID: Int64? = nil, email: String? = nil, clientAddress: String? = nil, detail: String? = nil,
                count: Int = 1) {
        self.at = at
        self.kind = kind
        self.userID = userID
        self.email = email
        self.clientAddress = clientAddress
        self.detail = detail
        self.count = count
    }
}
