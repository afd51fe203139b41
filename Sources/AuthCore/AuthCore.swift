import Foundation
import Logging
import Metrics
import Support
import Synchronization


/// The authentication service's domain logic: register, login, status, logout, validate, refresh
/// and revoke-all, over any `AuthStore`. It knows nothing of the wire.
///
/// Every method is synchronous and thread-safe; all but `validate` may block on the store and on
/// argon2id, so call them from a worker pool. `validate` is pure CPU plus an in-memory lookup.
///
/// ```swift
/// let core = try AuthCore(configuration: AuthConfiguration(signingKeys: ["k1": secret], activeKeyID: "k1"),
///                         store: InMemoryAuthStore())
/// try core.start()                       // load revocations, then follow them every second
/// let tokens = try core.register(email: "a@example.com", password: "a long passphrase", clientAddress: "10.0.0.1")
/// if case .valid(let claims) = core.validate(token: tokens.accessToken) { print(claims.userID) }
/// ```
public final class AuthCore: Sendable {
    public let configuration: AuthConfiguration
    public let store: any AuthStore
    let now: @Sendable () -> Date
    let logger: Logger
    /// The token codec in use (replaced when the key set changes).
    let codecs: CodecSlot
    /// The key set followed, when the configuration has one.
    let keySet: KeySet?
    let hasher: PasswordHasher
    let passwordPolicy: PasswordPolicy
    let revocations = RevocationCache()
    let validated: ValidatedTokenCache
    let databaseHealth: StoreHealth
    /// Counts for metrics (`statistics`), sharded: Validate adds to one without a lock.
    let counters = ShardedCounters(slots: CoreCounter.allCases.count)
    /// `configuration.leeway` in seconds, as token times are compared (read on every validation).
    private let leeway: TimeInterval
    private let cursor = Locked<RevocationCursor?>(nil)
    private let lastPurge = Locked<Date?>(nil)
    private let poller = Ticker()
    private let healthProber = Ticker()
    /// Seconds since 1970 (a `Double`'s bits) until which the revocations in memory may be
    /// trusted: the start of the last successful feed read plus `revocationMaxStaleness`. The
    /// poller publishes it; validation compares it with the time it reads for expiry anyway.
    /// +infinity while the core does not follow the feed (before `start()`, after `stop()`).
    private let freshUntil = Atomic<UInt64>(Double.infinity.bitPattern)
    /// Whether `start()` made the core follow the feed (and so bound its staleness).
    private let following = Atomic<Bool>(false)
    /// Revocation polls that failed since start (metrics).
    private let pollFailures = Atomic<Int>(0)
    /// Bound client certificates of enabled service accounts (`followServiceBindings`).
    let serviceBindings = Locked(ServiceBindings())
    /// ServiceToken throttle denials remembered: bucket key -> until (seconds since 1970).
    let serviceDenials = Locked<[String: Double]>([:])

    /// - Parameters:
    ///   - now: the clock (injected so tests control time).
    public init(configuration: AuthConfiguration, store: any AuthStore,
                now: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "auth.core")) throws {
        self.configuration = try configuration.validated()
        self.store = store
        self.now = now
        self.logger = logger
        if let keySetConfiguration = configuration.keySet {
            guard let keyStore = store as? any SigningKeyStore else {
                throw ConfigurationError("a key set needs a store that keeps signing keys")
            }
            let set = try KeySet(store: keyStore, configuration: keySetConfiguration, staticKeys: configuration.signingKeys,
                                 staticActiveKeyID: configuration.activeKeyID, issuer: configuration.issuer,
                                 audience: configuration.audience, now: now(), logger: logger)
            keySet = set
            codecs = set.slot
        } else {
            keySet = nil
            codecs = CodecSlot(JWTCodec(keys: configuration.signingKeys, activeKeyID: configuration.activeKeyID,
                                        issuer: configuration.issuer, audience: configuration.audience))
        }
        hasher = try PasswordHasher(parameters: configuration.passwordHashing, concurrency: configuration.passwordHashingConcurrency)
        passwordPolicy = PasswordPolicy(length: configuration.passwordLength)
        validated = ValidatedTokenCache(capacity: configuration.validationCacheCapacity)
        databaseHealth = StoreHealth(staleness: configuration.healthStaleness)
        leeway = configuration.leeway.timeInterval
    }

    deinit {
        poller.stop(wait: false)
        healthProber.stop(wait: false)
    }

    // MARK: Register and log in

    /// Creates an account and logs it in. The registration is counted against the throttling
    /// policy's registration limits (per client address and global) once the email and password
    /// pass their checks, and before the password is hashed: a refused one costs no hash and
    /// stores nothing but its aggregated audit row.
    /// Throws `invalidEmail`, `weakPassword`, `registrationThrottled`, `emailTaken`, `storeUnavailable`.
    public func register(email: String, password: String, clientAddress: String?) throws(AuthError) -> IssuedTokens {
        try mapped {
            guard configuration.registration == .open else { throw AuthError.registrationClosed }
            guard let address = EmailAddress(email) else { throw AuthError.invalidEmail }
            if let rejection = passwordPolicy.check(password) { throw AuthError.weakPassword(rejection) }
            // Hashed in NFC (`check` passed, so the NFC form is within bounds).
            let password = passwordPolicy.normalized(password) ?? password
            let at = now()
            let buckets = LoginThrottle.registrationBuckets(policy: configuration.throttle,
                                                            address: clientAddress.map(LoginThrottle.normalize))
            if case .denied(let retryAfter, let bucket) = try store.acquireAttempt(TokenID.random(), buckets: buckets, now: at) {
                auditRefusal(.registerThrottled, bucket: bucket, in: buckets, at: at, clientAddress: clientAddress)
                counters.add(1, at: CoreCounter.throttledRegister.rawValue)
                throw AuthError.registrationThrottled(retryAfter: retryAfter)
            }
            let hash = try hasher.hash(password)
            // The user and its first refresh token are stored in one write: a registration that
            // is answered with an error has stored nothing (unless the outcome is unknown).
            let refresh = newRefreshToken(userID: 0, at: at, clientAddress: clientAddress)
            switch try store.createUser(NewUser(email: address.value, emailKey: address.key, passwordHash: hash, registeredAt: at),
                                        firstRefreshToken: refresh.record) {
            case .emailTaken:
                throw AuthError.emailTaken
            case .created(let userID):
                let tokens = try issuedTokens(userID: userID, isAdmin: false, refresh: refresh, at: at)
                audit(.register, userID: userID, email: address.value, clientAddress: clientAddress)
                return tokens
            }
        }
    }

    /// Logs in. An unknown email and a wrong password give the same `invalidCredentials` after
    /// the same work (an argon2id verification against a dummy hash). Throws `throttled` when the
    /// throttling policy refuses the attempt (before any password check).
    ///
    /// The password is verified in its NFC form; a password typed in another form is also tried
    /// as typed, for hashes stored before passwords were normalised, and such a hash is replaced
    /// by the NFC form's when it matches.
    public func login(email: String, password: String, clientAddress: String?) throws(AuthError) -> IssuedTokens {
        try mapped {
            let parsed = EmailAddress(email)
            let key = parsed?.key ?? email.trimmingWhitespace().lowercased()
            let at = now()
            let user = try parsed.map { try store.user(emailKey: $0.key) } ?? nil
            let address = clientAddress.map(LoginThrottle.normalize)
            var known = false
            if let address {
                // Asked for unknown emails too (user id 0 never exists), so both paths cost the same.
                known = try store.isKnownAddress(userID: user?.id ?? 0, address: address,
                                                 since: at.addingTimeInterval(-configuration.throttle.knownAddressLifetime.timeInterval))
            }
            let buckets = LoginThrottle.buckets(policy: configuration.throttle, emailKey: key, address: address, knownAddress: known)
            let attempt = TokenID.random()
            if case .denied(let retryAfter, let bucket) = try store.acquireAttempt(attempt, buckets: buckets, now: at) {
                auditRefusal(.loginThrottled, bucket: bucket, in: buckets, at: at, userID: user?.id, email: parsed?.value,
                             clientAddress: clientAddress)
                counters.add(1, at: CoreCounter.throttledLogin.rawValue)
                throw AuthError.throttled(retryAfter: retryAfter)
            }
            var matches = false, typedFormMatched = false
            let normalized = passwordPolicy.normalized(password)
            if let user, let normalized {
                (matches, typedFormMatched) = verifyPassword(password, normalized: normalized, against: user.passwordHash)
            } else {
                // The same argon2id runs as for a known user with a wrong password.
                let stand = normalized ?? String(decoding: password.utf8.prefix(64), as: UTF8.self)
                hasher.verifyDummy(stand)
                if let normalized, !normalized.utf8.elementsEqual(password.utf8) { hasher.verifyDummy(password) }
            }
            guard matches, let user, let normalized else {
                audit(.loginFailed, userID: user?.id, email: parsed?.value, clientAddress: clientAddress)
                throw AuthError.invalidCredentials
            }
            if user.isDisabled {
                try store.releaseAttempt(attempt)
                audit(.loginFailed, userID: user.id, clientAddress: clientAddress, detail: "account disabled")
                throw AuthError.accountDisabled
            }
            if typedFormMatched || hasher.needsRehash(user.passwordHash) {
                try store.updatePasswordHash(userID: user.id, hash: try hasher.hash(normalized))
                logger.info(typedFormMatched ? "password hash replaced by that of the password's NFC form"
                                             : "password hash upgraded to current argon2id parameters",
                            metadata: ["user": "\(user.id)"])
            }
            // One write for the rest: release the attempt, remember the address, store the
            // session's refresh token, audit (MariaDB: one transaction, one commit).
            let refresh = newRefreshToken(userID: user.id, at: at, clientAddress: clientAddress)
            try store.completeLogin(CompletedLogin(
                attempt: attempt, address: address, at: at, refreshToken: refresh.record,
                audit: AuditEvent(at: now(), kind: .loginSucceeded, userID: user.id, email: user.email, clientAddress: clientAddress)))
            return try issuedTokens(userID: user.id, isAdmin: user.isAdmin, refresh: refresh, at: at)
        }
    }

    /// Whether `password` (`normalized`: its NFC form) matches `hash`: the NFC form, or when that
    /// fails and the typed bytes differ, the password as typed (a hash made before passwords were
    /// normalized); `typedFormMatched` then says the hash should be replaced.
    func verifyPassword(_ password: String, normalized: String, against hash: String) -> (matches: Bool, typedFormMatched: Bool) {
        if hasher.verify(normalized, against: hash) { return (true, false) }
        // Bytes, not String ==, which compares canonical equivalents as equal.
        guard !normalized.utf8.elementsEqual(password.utf8) else { return (false, false) }
        let typed = hasher.verify(password, against: hash)
        return (typed, typed)
    }

    /// Audits an attempt the throttle refused: one row per denying bucket and window, counting
    /// the attempts it stands for (a flood of refusals writes one row, not one each). A failure
    /// to write is logged, not thrown.
    func auditRefusal(_ kind: AuditEvent.Kind, bucket: String, in buckets: [ThrottleBucket], at: Date,
                              userID: Int64? = nil, email: String? = nil, clientAddress: String?) {
        let event = AuditEvent(at: at, kind: kind, userID: userID, email: email, clientAddress: clientAddress,
                               detail: "refused by " + LoginThrottle.limitName(bucket))
        do {
            try store.appendAudit(event, aggregate: LoginThrottle.auditAggregate(kind, bucket: bucket, in: buckets, at: at))
        } catch {
            logger.error("audit event not written", metadata: ["event": "\(kind.rawValue)", "error": "\(error)"])
        }
    }

    // MARK: Tokens

    /// Validates an access token: signature (HS256 only, key by `kid`), structure, `exp`/`nbf`
    /// with leeway, `iss`/`aud` when configured, and the in-memory revocation set. Never touches
    /// the store.
    public func validate(token: String) -> ValidationResult {
        if token.isEmpty { return .missing }
        var token = token
        return token.withUTF8 { validate(tokenBytes: $0) }
    }

    /// `validate(token:)` on the token's UTF-8 bytes, for callers that have them already (the
    /// service reads them straight from the request, without making a `String`).
    ///
    /// A token verified before is found in the validated-token cache by its exact bytes: its
    /// claims are reused, but expiry (with the leeway) and revocation are checked on every call.
    public func validate(tokenBytes token: UnsafeBufferPointer<UInt8>) -> ValidationResult {
        if token.isEmpty { return .missing }
        let at = now().timeIntervalSince1970
        // Read before the revocation lookup: a revocation added after it moves the generation
        // on, so the entry is looked up again at its next hit.
        let generation = revocations.generation
        // A hit is counted by the cache, under the shard lock the lookup holds: no atomic add here.
        let hit = validated.lookup(token)
        if hit == nil { counters.add(1, at: CoreCounter.cacheMiss.rawValue) }
        let outcome = hit.map { JWTCodec.checkTime($0.claims, now: at, leeway: leeway) }
            ?? codecs.withCodec { $0.verify(token, now: at, leeway: leeway) }
        switch outcome {
        case .invalid: return .invalid
        case .expired: return .expired
        case .valid(let claims):
            // Fail closed: past the staleness bound memory may miss another instance's logout.
            guard at <= Double(bitPattern: freshUntil.load(ordering: .relaxed)) else { return .unavailable }
            if hit?.checkedGeneration == generation { return .valid(claims) }
            if let refusal = revocations.refusal(claims) { return refusal }
            if hit != nil {
                validated.recordChecked(token, generation: generation)
            } else {
                validated.insert(token, claims: claims, checkedGeneration: generation)
            }
            return .valid(claims)
        }
    }

    /// `validate(tokenBytes:)` without the validated-token cache: the full verification every
    /// time (for the benchmark's uncached figure and for tests comparing the two).
    func validateUncached(tokenBytes token: UnsafeBufferPointer<UInt8>) -> ValidationResult {
        if token.isEmpty { return .missing }
        let at = now().timeIntervalSince1970
        switch codecs.withCodec({ $0.verify(token, now: at, leeway: leeway) }) {
        case .invalid: return .invalid
        case .expired: return .expired
        case .valid(let claims):
            guard at <= Double(bitPattern: freshUntil.load(ordering: .relaxed)) else { return .unavailable }
            return revocations.refusal(claims) ?? .valid(claims)
        }
    }

    /// The user behind a valid token.
    public func status(token: String) throws(AuthError) -> UserInfo {
        let claims = try validate(token: token).claims()
        return try mapped {
            guard let user = try store.user(id: claims.userID) else { throw AuthError.tokenInvalid }
            return UserInfo(userID: user.id, email: user.email, isAdmin: user.isAdmin, registeredAt: user.registeredAt)
        }
    }

    /// Revokes this token (its `jti` until it expires) and its session: the session's other
    /// access tokens (by `sid`) and its refresh tokens. One write.
    public func logout(token: String, clientAddress: String? = nil) throws(AuthError) {
        let claims = try validate(token: token).claims()
        try mapped {
            let entry = RevokedTokenEntry(id: claims.tokenID, expiresAt: claims.expiresAt)
            if let sid = claims.sessionID {
                let times = sessionRevocationTimes(at: now())
                try store.revokeSession(SessionRevocation(session: sid, userID: claims.userID, times: times), token: entry)
                revocations.add([entry], cutoffs: [], sessions: [RevokedSessionEntry(id: sid, expiresAt: seconds(times.accessTokensUntil))])
            } else {
                try store.revokeToken(claims.tokenID, userID: claims.userID, expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.expiresAt)))
                revocations.add([entry], cutoffs: [])
            }
            audit(.logout, userID: claims.userID, clientAddress: clientAddress)
        }
    }

    /// Exchanges a refresh token for new tokens; the presented one is spent. The new one never
    /// outlives the session (`sessionMaxAge` from its login). Presenting a spent one revokes the
    /// whole session (its refresh tokens and, by `sid`, its access tokens) and throws
    /// `refreshReused`; one of a revoked session or from before its user's cut-off is `refreshInvalid`.
    public func refresh(refreshToken: String, clientAddress: String?) throws(AuthError) -> IssuedTokens {
        try mapped {
            guard refreshToken.utf8.count == 43, let raw = Base64URL.decode(refreshToken), raw.count == 32 else {
                throw AuthError.refreshInvalid
            }
            let at = now()
            let replacement = SecureRandom.bytes(32)
            let expiresAt = at.addingTimeInterval(configuration.refreshTokenLifetime.timeInterval)
            let onReuse = sessionRevocationTimes(at: at)
            switch try store.rotateRefreshToken(presentedHash: Digest.sha256(raw), replacementHash: Digest.sha256(replacement),
                                                replacementExpiresAt: expiresAt, now: at, onReuse: onReuse) {
            case .notFound, .expired, .revoked:
                throw AuthError.refreshInvalid
            case .disabled:
                throw AuthError.accountDisabled
            case .reused(let userID, let family):
                revocations.add([], cutoffs: [], sessions: [RevokedSessionEntry(id: family, expiresAt: seconds(onReuse.accessTokensUntil))])
                audit(.refreshReuse, userID: userID, clientAddress: clientAddress, detail: "session revoked")
                throw AuthError.refreshReused
            case .rotated(let userID, let family, let expiresAt):
                guard let user = try store.user(id: userID) else { throw AuthError.refreshInvalid }
                // Disabled between the rotation's check and here: the replacement is never handed out.
                if user.isDisabled { throw AuthError.accountDisabled }
                let isAdmin = user.isAdmin
                let access = try issueAccessToken(userID: userID, isAdmin: isAdmin, session: family, at: at)
                audit(.refresh, userID: userID, clientAddress: clientAddress)
                return IssuedTokens(userID: userID, accessToken: access.token, accessTokenExpiresAt: access.expiresAt,
                                    refreshToken: Base64URL.encode(replacement), refreshTokenExpiresAt: expiresAt)
            }
        }
    }

    // MARK: Administration

    /// The user behind `token`, who must be an administrator (else `notAdmin`).
    @discardableResult
    public func requireAdmin(token: String) throws(AuthError) -> UserInfo {
        let user = try status(token: token)
        guard user.isAdmin else { throw AuthError.notAdmin }
        return user
    }

    /// Revokes every token of `userID` (access tokens issued until now, and all refresh tokens),
    /// on the authority of an administrator's token.
    public func revokeAll(userID: Int64, by adminToken: String, clientAddress: String? = nil) throws(AuthError) {
        let admin = try requireAdmin(token: adminToken)
        try revokeAllTokens(userID: userID, actor: admin.userID, clientAddress: clientAddress)
    }

    /// Revokes every token of `userID` (for the operator command and `revokeAll(userID:by:)`).
    /// Access and refresh tokens issued in the same second as the call are revoked too. One write.
    public func revokeAllTokens(userID: Int64, actor: Int64? = nil, clientAddress: String? = nil) throws(AuthError) {
        try mapped {
            guard try store.user(id: userID) != nil else { throw AuthError.userNotFound }
            let at = now()
            let cutoff = Int64(at.timeIntervalSince1970.rounded(.down))
            // The row also refuses refresh tokens from before the cut-off: it stays as long as one can be current.
            let purgeAfter = at.addingTimeInterval((max(configuration.accessTokenLifetime, configuration.refreshTokenLifetime)
                                                    + configuration.leeway + .seconds(1)).timeInterval)
            try store.revokeUserTokens(userID: userID, cutoff: cutoff, purgeAfter: purgeAfter)
            revocations.add([], cutoffs: [RevocationCutoff(userID: userID, cutoff: cutoff, purgeAfter: seconds(purgeAfter))])
            audit(.revokeAll, userID: userID, clientAddress: clientAddress, detail: actor.map { "by user \($0)" })
        }
    }

    /// Grants or withdraws administrator rights (the operator command). Withdrawing also revokes
    /// the user's tokens that carry `adm` (an admin cut-off at this second, in the same write),
    /// so every instance refuses them within the revocation bound; the user's other tokens and
    /// sessions stay (a refresh issues a token without `adm`).
    public func setAdmin(email: String, admin: Bool) throws(AuthError) {
        try mapped {
            guard let address = EmailAddress(email) else { throw AuthError.invalidEmail }
            let found: Bool
            if admin {
                found = try store.setAdmin(emailKey: address.key, admin: true)
            } else {
                // The operator command does not know the servers' --access-ttl: keep the row as
                // long as the longest access token any configuration can issue.
                let (cutoff, purgeAfter) = cutoffNow(outliving: AuthConfiguration.Bounds.accessTokenLifetime)
                found = try store.withdrawAdmin(emailKey: address.key, cutoff: cutoff, purgeAfter: purgeAfter)
                if found, let user = try store.user(emailKey: address.key) {
                    revocations.add([], cutoffs: [RevocationCutoff(userID: user.id, cutoff: 0, adminCutoff: cutoff, purgeAfter: seconds(purgeAfter))])
                }
            }
            guard found else { throw AuthError.userNotFound }
            audit(.adminChanged, email: address.value, detail: admin ? "granted" : "withdrawn")
        }
    }

    /// Whether the store answers. After `start()`, this reads the state a background probe keeps
    /// (every `healthProbeInterval`; store calls that find it unavailable mark it down at once)
    /// and never blocks: healthy means a probe succeeded within `healthStaleness` and nothing
    /// failed since. Before `start()` (or after `stop()`) it pings the store itself.
    ///
    /// While the core follows the revocation feed, it is also false once the revocations in
    /// memory are older than `revocationMaxStaleness` (Validate answers UNAVAILABLE then).
    public func health() -> Bool {
        guard revocationsAreFresh else { return false }
        return databaseHealth.isHealthy() ?? store.isHealthy()
    }

    /// Whether validation may trust the revocations in memory now.
    public var revocationsAreFresh: Bool {
        now().timeIntervalSince1970 <= Double(bitPattern: freshUntil.load(ordering: .relaxed))
    }

    /// Pings the store once and records the outcome (the probe calls this; tests may too).
    public func probeHealth() {
        let started = MonotonicClock.nanoseconds()
        let ok = store.isHealthy()
        let changed = databaseHealth.record(ok, startedAt: started)
        if changed {
            if ok { logger.notice("database answers again: SERVING") } else { logger.warning("database does not answer: NOT_SERVING") }
        }
    }

    // MARK: Revocation following

    /// Loads the revocations (throws `storeUnavailable` if the store cannot be read), then starts a
    /// background thread that polls new ones every `revocationPollInterval` and purges expired rows.
    /// From here on validation fails closed when no poll succeeded within `revocationMaxStaleness`.
    public func start() throws(AuthError) {
        following.store(true, ordering: .relaxed)
        freshUntil.store((-Double.infinity).bitPattern, ordering: .relaxed)
        do {
            try pollRevocations()
        } catch {
            following.store(false, ordering: .relaxed)
            freshUntil.store(Double.infinity.bitPattern, ordering: .relaxed)
            throw error
        }
        if configuration.followServiceBindings {
            do { try refreshServiceBindings() } catch {
                logger.warning("service certificate bindings not read", metadata: ["error": "\(error)"])
            }
        }
        probeHealth()
        healthProber.start(interval: configuration.healthProbeInterval, name: "auth-health-probe") { [weak self] in
            self?.probeHealth()
        }
        let interval = configuration.revocationPollInterval
        poller.start(interval: interval, name: "auth-revocation-poller") { [weak self] in
            guard let self else { return }
            do { try self.pollRevocations() } catch {
                self.pollFailures.add(1, ordering: .relaxed)
                self.logger.warning("revocation poll failed", metadata: ["error": "\(error)"])
            }
            // Another instance's generate or retire reaches this one here; a failure keeps the
            // set in use.
            do { try self.refreshKeys() } catch {
                self.logger.warning("key set refresh failed; keeping the keys in use", metadata: ["error": "\(error)"])
            }
            if self.configuration.followServiceBindings {
                do { try self.refreshServiceBindings() } catch {
                    self.logger.warning("service certificate bindings not refreshed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    // MARK: Signing keys

    /// The published keys (JWK Set and cache lifetime); an empty set without a key set.
    public var publishedKeys: PublishedKeys {
        keySet?.published ?? PublishedKeys(jwks: "{\"keys\":[]}", maxAgeSeconds: 3600, generation: 0)
    }

    /// The kid that signs new tokens now.
    public var signingKeyID: String? { keySet?.signingKeyID ?? codecs.codec.active?.kid }

    /// Re-reads the key set from the store and installs it (for SIGHUP and `authd reload`).
    /// Throws, and changes nothing, when the store cannot be read or a key does not open;
    /// without a key set there is nothing to re-read.
    public func reloadKeys() throws {
        try keySet?.reload(now: now())
    }

    /// Re-reads the key set if it changed (the poller does this each round; tests call it).
    public func refreshKeys() throws {
        try keySet?.refresh(now: now())
    }

    /// Stops the background poller and health probe (waits for them to finish their current round).
    public func stop() {
        poller.stop()
        healthProber.stop()
        databaseHealth.reset()
        following.store(false, ordering: .relaxed)
        freshUntil.store(Double.infinity.bitPattern, ordering: .relaxed)
    }

    /// Reads new revocations from the store now (the poller calls this; tests call it directly),
    /// forgets expired ones, and purges the store when `purgeInterval` has passed.
    public func pollRevocations() throws(AuthError) {
        try mapped {
            let at = now()
            let horizon = at.addingTimeInterval(-leeway)
            let since = cursor.withLock { $0 }
            let batch = try store.revocations(since: since, now: horizon)
            revocations.add(batch.tokens, cutoffs: batch.cutoffs, sessions: batch.sessions)
            cursor.withLock { $0 = batch.next }
            // Memory now holds every revocation recorded before `at` (the read began after it).
            if following.load(ordering: .relaxed) {
                freshUntil.store((at.timeIntervalSince1970 + configuration.revocationMaxStaleness.timeInterval).bitPattern,
                                 ordering: .relaxed)
            }
            revocations.purge(now: Int64(horizon.timeIntervalSince1970))
            let due = lastPurge.withLock { last -> Bool in
                guard last.map({ at.timeIntervalSince($0) >= configuration.purgeInterval.timeInterval }) ?? true else { return false }
                last = at
                return true
            }
            if due {
                let n = try store.purgeExpired(now: horizon, attemptsBefore: at.addingTimeInterval(-configuration.throttle.longestWindow.timeInterval))
                if n > 0 { logger.debug("purged expired rows", metadata: ["rows": "\(n)"]) }
            }
        }
    }

    /// Seconds since the start of the last successful revocation feed read, while the core
    /// follows the feed (nil otherwise); and the polls that failed since start. For metrics.
    public var revocationFeed: (age: TimeInterval?, pollFailures: Int) {
        let failures = pollFailures.load(ordering: .relaxed)
        guard following.load(ordering: .relaxed) else { return (nil, failures) }
        let readAt = Double(bitPattern: freshUntil.load(ordering: .relaxed)) - configuration.revocationMaxStaleness.timeInterval
        return (readAt.isFinite ? max(0, now().timeIntervalSince1970 - readAt) : nil, failures)
    }

    /// Whether the store answered the last health probe (no store call here; false before `start()`).
    public var databaseAnswers: Bool { databaseHealth.isHealthy() ?? false }

    /// Numbers of revoked token ids and user cut-offs held in memory.
    public var revocationCounts: (tokens: Int, cutoffs: Int) { revocations.counts }

    // MARK: Internals

    /// A new refresh token (a new session family, ending `sessionMaxAge` from now) and the record
    /// that stores its hash.
    func newRefreshToken(userID: Int64, at: Date, clientAddress: String?) -> (token: [UInt8], record: RefreshTokenRecord) {
        let refresh = SecureRandom.bytes(32)
        let sessionEnd = at.addingTimeInterval(configuration.sessionMaxAge.timeInterval)
        return (refresh, RefreshTokenRecord(hash: Digest.sha256(refresh), family: TokenID.random(), userID: userID, issuedAt: at,
                                            expiresAt: min(at.addingTimeInterval(configuration.refreshTokenLifetime.timeInterval), sessionEnd),
                                            sessionExpiresAt: sessionEnd, sessionCreatedAt: at,
                                            clientAddress: clientAddress.map(LoginThrottle.normalize)))
    }

    /// How long a session revoked at `at` matters: its access tokens (issued at `at` at the latest)
    /// expire by the first time, its refresh tokens by the second.
    func sessionRevocationTimes(at: Date) -> SessionRevocation.Times {
        let slack = configuration.leeway + .seconds(1)
        return SessionRevocation.Times(
            accessTokensUntil: at.addingTimeInterval((configuration.accessTokenLifetime + slack).timeInterval),
            purgeAfter: at.addingTimeInterval((max(configuration.accessTokenLifetime, configuration.refreshTokenLifetime) + slack).timeInterval))
    }

    /// Whole seconds since 1970, rounded up (the revocation entries' unit).
    func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.up)) }

    /// The tokens handed out for a stored refresh token: it plus an access token of its session.
    func issuedTokens(userID: Int64, isAdmin: Bool, refresh: (token: [UInt8], record: RefreshTokenRecord),
                              at: Date) throws -> IssuedTokens {
        let access = try issueAccessToken(userID: userID, isAdmin: isAdmin, session: refresh.record.family, at: at)
        return IssuedTokens(userID: userID, accessToken: access.token, accessTokenExpiresAt: access.expiresAt,
                            refreshToken: Base64URL.encode(refresh.token), refreshTokenExpiresAt: refresh.record.expiresAt)
    }

    /// A user's access token; it carries the user's roles now (`roles`).
    private func issueAccessToken(userID: Int64, isAdmin: Bool, session: TokenID?, at: Date) throws -> (token: String, expiresAt: Date) {
        let iat = Int64(at.timeIntervalSince1970.rounded(.down))
        let exp = iat + Int64(configuration.accessTokenLifetime.timeInterval.rounded(.up))
        let claims = AccessClaims(userID: userID, issuedAt: iat, expiresAt: exp, tokenID: .random(), sessionID: session,
                                  isAdmin: isAdmin, roles: try userRoles(userID))
        return (codecs.withCodec { $0.sign(claims) }, Date(timeIntervalSince1970: TimeInterval(exp)))
    }

    /// Writes an audit event; a failure to write is logged, not thrown (the operation's own
    /// outcome stands).
    func audit(_ kind: AuditEvent.Kind, userID: Int64? = nil, email: String? = nil,
                       clientAddress: String? = nil, detail: String? = nil) {
        do {
            try store.appendAudit(AuditEvent(at: now(), kind: kind, userID: userID, email: email,
                                             clientAddress: clientAddress, detail: detail))
        } catch {
            logger.error("audit event not written", metadata: ["event": "\(kind.rawValue)", "error": "\(error)"])
        }
    }

    /// Runs `body`, turning store errors into `AuthError`s.
    func mapped<T>(_ body: () throws -> T) throws(AuthError) -> T {
        do {
            return try body()
        } catch let error as AuthError {
            throw error
        } catch let error as StoreError {
            counters.add(1, at: CoreCounter.storeErrors.rawValue)
            if error.kind == .unavailable {
                databaseHealth.recordFailure()
                throw AuthError.storeUnavailable(error)
            }
            if error.kind == .conflict { throw AuthError.storeConflict(error) }
            logger.error("store failure", metadata: ["error": "\(error)"])
            throw AuthError.internal(error.description)
        } catch {
            logger.error("unexpected failure", metadata: ["error": "\(error)"])
            throw AuthError.internal("\(error)")
        }
    }
}
