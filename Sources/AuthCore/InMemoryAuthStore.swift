import Foundation
import Support


/// The store in process memory: for unit tests and dev mode. One lock guards all of it, which
/// makes every method atomic (the contract the MariaDB store keeps with transactions).
public final class InMemoryAuthStore: AuthStore {
    private struct State {
        var users: [Int64: UserRecord] = [:]
        var userByKey: [String: Int64] = [:]
        var nextUserID: Int64 = 1
        var revoked: [TokenID: (userID: Int64, expiresAt: Int64, seq: Int64)] = [:]
        var cutoffs: [Int64: (cutoff: Int64, adminCutoff: Int64, disabledCutoff: Int64, purgeAfter: Int64, seq: Int64)] = [:]
        var resetCodes: [Int64: (hash: [UInt8], expiresAt: Date)] = [:]
        var sessions: [TokenID: (accessUntil: Int64, purgeAfter: Int64, seq: Int64)] = [:]
        var sequence: Int64 = 0
        var refresh: [[UInt8]: (record: RefreshTokenRecord, used: Bool)] = [:]
        var attempts: [String: [(id: TokenID, at: Date)]] = [:]
        var known: [String: Date] = [:]
        var audit: [AuditEvent] = []
        /// Aggregated audit rows: their index in `audit` by aggregate key.
        var auditAggregates: [[UInt8]: Int] = [:]
    }

    private let state = Locked(State())
    /// The key set (`SigningKeyStore`, in InMemoryAuthStore+Keys.swift).
    let signingKeyRows = Locked<[SigningKeyRecord]>([])
    /// Service accounts and roles (`ServiceAccountStore`, in InMemoryAuthStore+Services.swift).
    let serviceRows = Locked(InMemoryServiceRows())
    /// When set, every call throws `.unavailable` (to test the core's handling of an outage), or
    /// the kind `failingKind` says.
    public let failing = Locked(false)
    /// What `failing` throws: `.conflict` stands for a write that kept conflicting after retries.
    public let failingKind = Locked(StoreError.Kind.unavailable)
    /// When set, only the revocation feed (`revocations(since:now:)`) throws `.unavailable`: the
    /// feed stops while every other call (and the health ping) still answers.
    public let failingFeed = Locked(false)
    /// When set to n, the next n calls answer and every call after them throws `.unavailable`
    /// (to test that an operation is one write: a failure between two writes stores neither).
    public let failingAfterCalls = Locked<Int?>(nil)

    public init() {}

    private func locked<T>(_ body: (inout State) throws -> T) throws -> T {
        if failing.withLock({ $0 }) { throw StoreError(failingKind.withLock { $0 }, "in-memory store set to fail") }
        let refused = failingAfterCalls.withLock { left -> Bool in
            guard let n = left else { return false }
            if n <= 0 { return true }
            left = n - 1
            return false
        }
        if refused { throw StoreError(.unavailable, "in-memory store set to fail after some calls") }
        return try state.withLock { try body(&$0) }
    }

    public func isHealthy() -> Bool { !failing.withLock { $0 } }

    public func createUser(_ user: NewUser) throws -> CreateUserResult {
        try locked { s in
            if s.userByKey[user.emailKey] != nil { return .emailTaken }
            let id = s.nextUserID
            s.nextUserID += 1
            s.users[id] = UserRecord(id: id, email: user.email, emailKey: user.emailKey, passwordHash: user.passwordHash,
                                     isAdmin: false, registeredAt: user.registeredAt)
            s.userByKey[user.emailKey] = id
            return .created(userID: id)
        }
    }

    public func user(emailKey: String) throws -> UserRecord? {
        try locked { s in s.userByKey[emailKey].flatMap { s.users[$0] } }
    }

    public func user(id: Int64) throws -> UserRecord? { try locked { $0.users[id] } }

    public func updatePasswordHash(userID: Int64, hash: String) throws {
        try locked { $0.users[userID]?.passwordHash = hash }
    }

    public func setAdmin(emailKey: String, admin: Bool) throws -> Bool {
        try locked { s in
            guard let id = s.userByKey[emailKey] else { return false }
            s.users[id]?.isAdmin = admin
            return true
        }
    }

    public func withdrawAdmin(emailKey: String, cutoff: Int64, purgeAfter: Date) throws -> Bool {
        try locked { s in
            guard let id = s.userByKey[emailKey] else { return false }
            s.users[id]?.isAdmin = false
            Self.setCutoff(&s, userID: id, cutoff: 0, adminCutoff: cutoff, disabledCutoff: 0, purgeAfter: purgeAfter)
            return true
        }
    }

    public func revokeToken(_ id: TokenID, userID: Int64, expiresAt: Date) throws {
        try locked { s in
            s.sequence += 1
            if s.revoked[id] == nil { s.revoked[id] = (userID, Int64(expiresAt.timeIntervalSince1970.rounded(.up)), s.sequence) }
        }
    }

    public func setRevocationCutoff(userID: Int64, cutoff: Int64, purgeAfter: Date) throws {
        try locked { s in Self.setCutoff(&s, userID: userID, cutoff: cutoff, adminCutoff: 0, disabledCutoff: 0, purgeAfter: purgeAfter) }
    }

    private static func setCutoff(_ s: inout State, userID: Int64, cutoff: Int64, adminCutoff: Int64, disabledCutoff: Int64,
                                  purgeAfter: Date) {
        s.sequence += 1
        let previous = s.cutoffs[userID]
        s.cutoffs[userID] = (max(previous?.cutoff ?? 0, cutoff), max(previous?.adminCutoff ?? 0, adminCutoff),
                             max(previous?.disabledCutoff ?? 0, disabledCutoff),
                             max(previous?.purgeAfter ?? .min, Int64(purgeAfter.timeIntervalSince1970.rounded(.up))), s.sequence)
    }

    public func revokeSession(_ session: SessionRevocation, token: RevokedTokenEntry?) throws {
        try locked { s in
            if let token {
                s.sequence += 1
                if s.revoked[token.id] == nil { s.revoked[token.id] = (session.userID, token.expiresAt, s.sequence) }
            }
            Self.revokeSession(&s, session)
        }
    }

    private static func revokeSession(_ s: inout State, _ session: SessionRevocation) {
        s.sequence += 1
        let old = s.sessions[session.session]
        s.sessions[session.session] = (max(old?.accessUntil ?? .min, Int64(session.times.accessTokensUntil.timeIntervalSince1970.rounded(.up))),
                                       max(old?.purgeAfter ?? .min, Int64(session.times.purgeAfter.timeIntervalSince1970.rounded(.up))),
                                       s.sequence)
        for (k, v) in s.refresh where v.record.family == session.session { s.refresh[k] = nil }
    }

    public func revokeUserTokens(userID: Int64, cutoff: Int64, purgeAfter: Date) throws {
        try locked { s in
            Self.setCutoff(&s, userID: userID, cutoff: cutoff, adminCutoff: 0, disabledCutoff: 0, purgeAfter: purgeAfter)
            for (k, v) in s.refresh where v.record.userID == userID { s.refresh[k] = nil }
        }
    }

    public func revocations(since cursor: RevocationCursor?, now: Date) throws -> RevocationBatch {
        if failingFeed.withLock({ $0 }) { throw StoreError(.unavailable, "in-memory revocation feed set to fail") }
        return try locked { s in
            let after = cursor?.value ?? .min
            let nowSeconds = Int64(now.timeIntervalSince1970)
            let tokens = s.revoked.filter { $0.value.seq > after && $0.value.expiresAt > nowSeconds }
                .map { RevokedTokenEntry(id: $0.key, expiresAt: $0.value.expiresAt) }
            let cutoffs = s.cutoffs.filter { $0.value.seq > after && $0.value.purgeAfter > nowSeconds }
                .map { RevocationCutoff(userID: $0.key, cutoff: $0.value.cutoff, adminCutoff: $0.value.adminCutoff,
                                        disabledCutoff: $0.value.disabledCutoff, purgeAfter: $0.value.purgeAfter) }
            let sessions = s.sessions.filter { $0.value.seq > after && $0.value.accessUntil > nowSeconds }
                .map { RevokedSessionEntry(id: $0.key, expiresAt: $0.value.accessUntil) }
            return RevocationBatch(tokens: tokens, cutoffs: cutoffs, sessions: sessions, next: RevocationCursor(s.sequence))
        }
    }

    public func purgeExpired(now: Date, attemptsBefore: Date) throws -> Int {
        try locked { s in
            let nowSeconds = Int64(now.timeIntervalSince1970)
            var n = 0
            for (k, v) in s.revoked where v.expiresAt <= nowSeconds { s.revoked[k] = nil; n += 1 }
            for (k, v) in s.cutoffs where v.purgeAfter <= nowSeconds { s.cutoffs[k] = nil; n += 1 }
            for (k, v) in s.sessions where v.purgeAfter <= nowSeconds { s.sessions[k] = nil; n += 1 }
            for (k, v) in s.refresh where v.record.expiresAt <= now { s.refresh[k] = nil; n += 1 }
            for (k, v) in s.attempts {
                let kept = v.filter { $0.at >= attemptsBefore }
                n += v.count - kept.count
                s.attempts[k] = kept.isEmpty ? nil : kept
            }
            return n
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) throws {
        try locked { $0.refresh[token.hash] = (token, false) }
    }

    public func rotateRefreshToken(presentedHash: [UInt8], replacementHash: [UInt8], replacementExpiresAt: Date,
                                   now: Date, onReuse: SessionRevocation.Times) throws -> RefreshRotation {
        try locked { s in
            guard let entry = s.refresh[presentedHash] else { return .notFound }
            let r = entry.record
            if entry.used {
                Self.revokeSession(&s, SessionRevocation(session: r.family, userID: r.userID, times: onReuse))
                return .reused(userID: r.userID, family: r.family)
            }
            if r.expiresAt <= now { return .expired }
            if s.sessions[r.family] != nil { return .revoked }
            if let c = s.cutoffs[r.userID], r.issuedAt < Date(timeIntervalSince1970: TimeInterval(c.cutoff + 1)) { return .revoked }
            if let c = s.cutoffs[r.userID], r.issuedAt < Date(timeIntervalSince1970: TimeInterval(c.disabledCutoff + 1)) {
                return s.users[r.userID]?.isDisabled == true ? .disabled : .revoked
            }
            let expiresAt = min(replacementExpiresAt, r.sessionExpiresAt)
            s.refresh[presentedHash]?.used = true
            s.refresh[replacementHash] = (RefreshTokenRecord(hash: replacementHash, family: r.family, userID: r.userID, issuedAt: now,
                                                             expiresAt: expiresAt, sessionExpiresAt: r.sessionExpiresAt,
                                                             sessionCreatedAt: r.sessionCreatedAt, clientAddress: r.clientAddress), false)
            return .rotated(userID: r.userID, family: r.family, expiresAt: expiresAt)
        }
    }

    public func revokeRefreshFamily(_ family: TokenID) throws {
        try locked { s in for (k, v) in s.refresh where v.record.family == family { s.refresh[k] = nil } }
    }

    public func revokeRefreshTokens(userID: Int64) throws {
        try locked { s in for (k, v) in s.refresh where v.record.userID == userID { s.refresh[k] = nil } }
    }

    public func acquireAttempt(_ attempt: TokenID, buckets: [ThrottleBucket], now: Date) throws -> ThrottleDecision {
        try locked { s in
            var denial: (retryAfter: TimeInterval, bucket: String)?
            for b in buckets {
                let inWindow = (s.attempts[b.key] ?? []).filter { $0.at > now.addingTimeInterval(-b.window) }
                if inWindow.count >= b.limit {
                    // The slot frees when the (count - limit + 1)-th oldest attempt leaves the window.
                    let sorted = inWindow.map(\.at).sorted()
                    let frees = sorted[inWindow.count - b.limit].addingTimeInterval(b.window).timeIntervalSince(now)
                    if frees > denial?.retryAfter ?? 0 { denial = (frees, b.key) }
                }
            }
            if let denial { return .denied(retryAfter: denial.retryAfter, bucket: denial.bucket) }
            for b in buckets { s.attempts[b.key, default: []].append((attempt, now)) }
            return .granted
        }
    }

    public func releaseAttempt(_ attempt: TokenID) throws {
        try locked { s in
            for (k, v) in s.attempts where v.contains(where: { $0.id == attempt }) {
                s.attempts[k] = v.filter { $0.id != attempt }
            }
        }
    }

    public func recordLoginSuccess(userID: Int64, address: String, at: Date) throws {
        try locked { $0.known["\(userID) \(address)"] = at }
    }

    public func isKnownAddress(userID: Int64, address: String, since: Date) throws -> Bool {
        try locked { s in s.known["\(userID) \(address)"].map { $0 >= since } ?? false }
    }

    public func appendAudit(_ event: AuditEvent) throws {
        try locked { $0.audit.append(event) }
    }

    public func appendAudit(_ event: AuditEvent, aggregate: [UInt8]) throws {
        try locked { s in
            if let i = s.auditAggregates[aggregate] {
                s.audit[i].count += 1
            } else {
                s.auditAggregates[aggregate] = s.audit.count
                s.audit.append(event)
            }
        }
    }

    public func auditEvents(userID: Int64?, limit: Int) throws -> [AuditEvent] {
        try locked { s in Array(s.audit.reversed().filter { userID == nil || $0.userID == userID }.prefix(limit)) }
    }

    public func completeLogin(_ login: CompletedLogin) throws {
        try releaseAttempt(login.attempt)
        if let address = login.address { try recordLoginSuccess(userID: login.refreshToken.userID, address: address, at: login.at) }
        try locked { s in
            s.refresh[login.refreshToken.hash] = (login.refreshToken, false)
            s.users[login.refreshToken.userID]?.lastLoginAt = login.at
            s.audit.append(login.audit)
        }
    }

    public func auditEvents(_ query: AuditQuery) throws -> [(id: Int64, event: AuditEvent)] {
        try locked { s in
            var out: [(id: Int64, event: AuditEvent)] = []
            // An event's id is its position plus one.
            for (i, e) in s.audit.enumerated().reversed() where out.count < query.limit {
                let id = Int64(i + 1)
                if let before = query.before, id >= before { continue }
                if let user = query.userID, e.userID != user { continue }
                if let kind = query.kind, e.kind != kind { continue }
                if let since = query.since, e.at < since { continue }
                out.append((id, e))
            }
            return out
        }
    }

    // MARK: Accounts and sessions

    public func users(emailKeyPrefix: String, afterEmailKey: String?, limit: Int) throws -> [UserRecord] {
        try locked { s in
            let keys = s.userByKey.keys.filter { key in key.hasPrefix(emailKeyPrefix) && afterEmailKey.map { key > $0 } ?? true }.sorted()
            return keys.prefix(limit).compactMap { s.userByKey[$0].flatMap { s.users[$0] } }
        }
    }

    public func sessions(userID: Int64, now: Date) throws -> [SessionRecord] {
        try locked { s in
            s.refresh.values.filter { $0.record.userID == userID && !$0.used && $0.record.expiresAt > now }.map {
                SessionRecord(id: $0.record.family, createdAt: $0.record.sessionCreatedAt, lastRefreshedAt: $0.record.issuedAt,
                              clientAddress: $0.record.clientAddress)
            }
        }
    }

    public func revokeSessions(userID: Int64, only: TokenID?, times: SessionRevocation.Times) throws -> [TokenID] {
        try locked { s in Self.revokeSessions(&s, userID: userID, only: only, times: times) }
    }

    private static func revokeSessions(_ s: inout State, userID: Int64, only: TokenID?, times: SessionRevocation.Times) -> [TokenID] {
        let families = Set(s.refresh.values.filter { $0.record.userID == userID && (only == nil || $0.record.family == only) }
            .map(\.record.family))
        for f in families { revokeSession(&s, SessionRevocation(session: f, userID: userID, times: times)) }
        return Array(families)
    }

    public func replacePassword(userID: Int64, hash: String, resetCodeHash: [UInt8]?, now: Date,
                                times: SessionRevocation.Times) throws -> [TokenID]? {
        try locked { s in
            if let resetCodeHash {
                guard let code = s.resetCodes[userID], code.hash == resetCodeHash, code.expiresAt > now else { return nil }
                s.resetCodes[userID] = nil
            }
            s.users[userID]?.passwordHash = hash
            return Self.revokeSessions(&s, userID: userID, only: nil, times: times)
        }
    }

    public func setDisabled(userID: Int64, disabled: Bool, cutoff: Int64, purgeAfter: Date) throws {
        try locked { s in
            s.users[userID]?.isDisabled = disabled
            if disabled { Self.setCutoff(&s, userID: userID, cutoff: 0, adminCutoff: 0, disabledCutoff: cutoff, purgeAfter: purgeAfter) }
        }
    }

    public func deleteUser(userID: Int64, times: SessionRevocation.Times) throws -> [TokenID] {
        try locked { s in
            let ended = Self.revokeSessions(&s, userID: userID, only: nil, times: times)
            if let user = s.users.removeValue(forKey: userID) { s.userByKey[user.emailKey] = nil }
            s.resetCodes[userID] = nil
            for k in s.known.keys where k.hasPrefix("\(userID) ") { s.known[k] = nil }
            for i in s.audit.indices where s.audit[i].userID == userID { s.audit[i].email = nil }
            serviceRows.withLock { $0.roles[userID] = nil }  // as MariaDB's deleteUser deletes them
            return ended
        }
    }

    public func setResetCode(userID: Int64, hash: [UInt8], expiresAt: Date) throws {
        try locked { $0.resetCodes[userID] = (hash, expiresAt) }
    }

    public func resetCode(userID: Int64) throws -> (hash: [UInt8], expiresAt: Date)? {
        try locked { $0.resetCodes[userID] }
    }
}
