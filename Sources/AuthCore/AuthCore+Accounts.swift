import Foundation

/// On whose authority an administrative operation runs: an administrator's access token (the
/// RPCs), or an operator on the server (`authd admin …`, which has the database's credentials).
public enum Authority: Sendable {
    case token(String)
    case operatorCommand
}

/// Accounts and sessions: a user's own account (password change, sessions, deletion) and their
/// administration (listing, disabling, deleting, reset codes, the audit trail, creation).
/// Every operation is audited (who, what, whom, from where) without secrets; every password or
/// reset-code check is throttled with the login rules.
extension AuthCore {
    // MARK: Own account

    /// Checks the current password (throttled like login), applies the password policy, stores
    /// the new hash and ends every session of the user, as one write; returns the tokens of a
    /// new session for the caller.
    public func changePassword(token: String, current: String, new: String, clientAddress: String?) throws(AuthError) -> IssuedTokens {
        let claims = try validate(token: token).claims()
        return try mapped {
            let user = try activeUser(claims.userID)
            if let rejection = passwordPolicy.check(new) { throw AuthError.weakPassword(rejection) }
            try checkPassword(current, of: user, clientAddress: clientAddress)
            let hash = try hasher.hash(passwordPolicy.normalized(new) ?? new)
            let at = now()
            let times = sessionRevocationTimes(at: at)
            let ended = try store.replacePassword(userID: user.id, hash: hash, resetCodeHash: nil, now: at, times: times) ?? []
            noteEnded(ended, times: times)
            let refresh = newRefreshToken(userID: user.id, at: at, clientAddress: clientAddress)
            try store.insertRefreshToken(refresh.record)
            audit(.passwordChanged, userID: user.id, clientAddress: clientAddress, detail: "\(ended.count) sessions ended")
            return try issuedTokens(userID: user.id, isAdmin: user.isAdmin, refresh: refresh, at: at)
        }
    }

    /// The caller's sessions, newest first.
    public func sessions(token: String) throws(AuthError) -> [SessionInfo] {
        let claims = try validate(token: token).claims()
        return try mapped {
            try store.sessions(userID: claims.userID, now: now())
                .sorted { $0.createdAt > $1.createdAt }
                .map { SessionInfo(session: $0, isCurrent: $0.id == claims.sessionID) }
        }
    }

    /// Ends one of the caller's sessions (`sid` as the tokens carry it): its refresh tokens at
    /// once, its access tokens within the revocation bound. `sessionNotFound` when it is not theirs.
    public func revokeSession(token: String, sid: String, clientAddress: String?) throws(AuthError) {
        let claims = try validate(token: token).claims()
        guard let bytes = Base64URL.decode(sid), let family = TokenID(bytes: bytes) else { throw AuthError.sessionNotFound }
        try mapped {
            let times = sessionRevocationTimes(at: now())
            let ended = try store.revokeSessions(userID: claims.userID, only: family, times: times)
            guard !ended.isEmpty else { throw AuthError.sessionNotFound }
            noteEnded(ended, times: times)
            audit(.sessionRevoked, userID: claims.userID, clientAddress: clientAddress, detail: "session \(sid)")
        }
    }

    /// Ends every session of the caller, the caller's own included. Returns how many.
    public func logoutAll(token: String, clientAddress: String?) throws(AuthError) -> Int {
        let claims = try validate(token: token).claims()
        return try mapped {
            let times = sessionRevocationTimes(at: now())
            var ended = try store.revokeSessions(userID: claims.userID, only: nil, times: times)
            // The caller's session ends even when its refresh token is gone already.
            if let sid = claims.sessionID, !ended.contains(sid) {
                try store.revokeSession(SessionRevocation(session: sid, userID: claims.userID, times: times), token: nil)
                ended.append(sid)
            }
            noteEnded(ended, times: times)
            audit(.logoutAll, userID: claims.userID, clientAddress: clientAddress, detail: "\(ended.count) sessions ended")
            return ended.count
        }
    }

    /// Deletes the caller's account after checking its password (throttled like login).
    public func deleteAccount(token: String, password: String, clientAddress: String?) throws(AuthError) {
        let claims = try validate(token: token).claims()
        try mapped {
            guard let user = try store.user(id: claims.userID) else { throw AuthError.tokenInvalid }
            try checkPassword(password, of: user, clientAddress: clientAddress)
            try delete(user, detail: "by the user", clientAddress: clientAddress)
        }
    }

    // MARK: Administration

    /// A page of users whose email starts with `emailPrefix` (case-insensitive), by email.
    public func users(emailPrefix: String, pageToken: String, pageSize: Int, authority: Authority) throws(AuthError) -> Page<UserSummary> {
        try authorize(authority)
        let size = try Paging.size(pageSize)
        let after = try Paging.key(pageToken)
        return try mapped {
            let users = try store.users(emailKeyPrefix: emailPrefix.trimmingWhitespace().lowercased(), afterEmailKey: after, limit: size)
            let next = users.count == size ? users.last.map { Paging.token($0.emailKey) } : nil
            return Page(items: users.map(UserSummary.init), nextPageToken: next)
        }
    }

    /// Disables or enables a user. Disabling refuses its logins and refreshes at once and, within
    /// the revocation bound on every instance, every token issued until now (as `.disabled`;
    /// they stay refused after enabling: the user logs in again).
    public func setDisabled(email: String, disabled: Bool, authority: Authority, clientAddress: String? = nil) throws(AuthError) {
        let actor = try authorize(authority)
        try mapped {
            let user = try existingUser(email)
            let (cutoff, purgeAfter) = cutoffNow(outliving: AuthConfiguration.Bounds.refreshTokenLifetime)
            try store.setDisabled(userID: user.id, disabled: disabled, cutoff: cutoff, purgeAfter: purgeAfter)
            if disabled {
                revocations.add([], cutoffs: [RevocationCutoff(userID: user.id, cutoff: 0, disabledCutoff: cutoff, purgeAfter: seconds(purgeAfter))])
            }
            audit(disabled ? .userDisabled : .userEnabled, userID: user.id, clientAddress: clientAddress, detail: actor)
        }
    }

    /// Deletes a user (as `deleteAccount`, without the password).
    public func deleteUser(email: String, authority: Authority, clientAddress: String? = nil) throws(AuthError) {
        let actor = try authorize(authority)
        try mapped {
            try delete(try existingUser(email), detail: actor, clientAddress: clientAddress)
        }
    }

    /// A one-time reset code for the user: random (160 bits), valid `resetCodeLifetime`, stored
    /// only as its SHA-256, replacing any earlier one. Shown once, to the administrator.
    public func issueResetCode(email: String, authority: Authority, clientAddress: String? = nil) throws(AuthError) -> ResetCode {
        let actor = try authorize(authority)
        return try mapped {
            let user = try existingUser(email)
            let code = Base64URL.encode(SecureRandom.bytes(20))
            let expiresAt = now().addingTimeInterval(configuration.resetCodeLifetime.timeInterval)
            try store.setResetCode(userID: user.id, hash: Digest.sha256(code.utf8), expiresAt: expiresAt)
            audit(.resetCodeIssued, userID: user.id, clientAddress: clientAddress, detail: actor)
            return ResetCode(code: code, expiresAt: expiresAt)
        }
    }

    /// Sets a new password with a reset code, which it uses up, and ends every session of the
    /// user. A wrong, used or expired code (or an unknown email) is `resetCodeInvalid`, counted
    /// by the login throttling rules (in buckets of their own): past them `resetThrottled`.
    public func resetPassword(email: String, code: String, newPassword: String, clientAddress: String?) throws(AuthError) {
        try mapped {
            if let rejection = passwordPolicy.check(newPassword) { throw AuthError.weakPassword(rejection) }
            let parsed = EmailAddress(email)
            let key = parsed?.key ?? email.trimmingWhitespace().lowercased()
            let at = now()
            let buckets = LoginThrottle.buckets(policy: configuration.throttle, emailKey: "reset\u{0}" + key,
                                                address: clientAddress.map(LoginThrottle.normalize), knownAddress: false)
            let attempt = TokenID.random()
            let user = try parsed.map { try store.user(emailKey: $0.key) } ?? nil
            if case .denied(let retryAfter, let bucket) = try store.acquireAttempt(attempt, buckets: buckets, now: at) {
                auditRefusal(.resetThrottled, bucket: bucket, in: buckets, at: at, userID: user?.id, clientAddress: clientAddress)
                throw AuthError.resetThrottled(retryAfter: retryAfter)
            }
            guard let user, code.utf8.count <= 64 else {
                audit(.resetCodeFailed, clientAddress: clientAddress)
                throw AuthError.resetCodeInvalid
            }
            // The code before the new password's hash, so that a wrong one costs no argon2id: its
            // SHA-256 against the stored one, in constant time, and unexpired.
            let codeHash = Digest.sha256(code.utf8)
            guard let stored = try store.resetCode(userID: user.id), stored.expiresAt > at,
                  Digest.equal(stored.hash, codeHash) else {
                audit(.resetCodeFailed, userID: user.id, clientAddress: clientAddress)
                throw AuthError.resetCodeInvalid
            }
            let hash = try hasher.hash(passwordPolicy.normalized(newPassword) ?? newPassword)
            let times = sessionRevocationTimes(at: at)
            // Checked again in the write that uses it up: a concurrent reset may have used it meanwhile.
            guard let ended = try store.replacePassword(userID: user.id, hash: hash, resetCodeHash: codeHash,
                                                        now: at, times: times) else {
                audit(.resetCodeFailed, userID: user.id, clientAddress: clientAddress)
                throw AuthError.resetCodeInvalid
            }
            try store.releaseAttempt(attempt)
            noteEnded(ended, times: times)
            audit(.passwordReset, userID: user.id, clientAddress: clientAddress, detail: "\(ended.count) sessions ended")
        }
    }

    /// A page of the audit trail, newest first, filtered by user (its current email, or its id
    /// for a deleted one), event kind and time.
    public func auditEvents(email: String, userID: Int64, kind: String, since: Date?, pageToken: String, pageSize: Int,
                            authority: Authority) throws(AuthError) -> Page<AuditEvent> {
        try authorize(authority)
        let size = try Paging.size(pageSize)
        var eventKind: AuditEvent.Kind?
        if !kind.isEmpty {
            guard let k = AuditEvent.Kind(rawValue: kind) else {
                throw AuthError.invalidRequest("Unknown event kind; known: \(AuditEvent.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            eventKind = k
        }
        var before: Int64?
        if let key = try Paging.key(pageToken) {
            guard let id = Int64(key) else { throw AuthError.invalidRequest("Invalid page token.") }
            before = id
        }
        return try mapped {
            var user: Int64? = userID == 0 ? nil : userID
            if !email.isEmpty {
                guard let address = EmailAddress(email), let found = try store.user(emailKey: address.key) else {
                    return Page(items: [], nextPageToken: nil)
                }
                user = found.id
            }
            let rows = try store.auditEvents(AuditQuery(userID: user, kind: eventKind, since: since, before: before, limit: size))
            let next = rows.count == size ? rows.last.map { Paging.token(String($0.id)) } : nil
            return Page(items: rows.map(\.event), nextPageToken: next)
        }
    }

    /// Creates an account (for administrators; the way in when registration is closed).
    public func createUser(email: String, password: String, authority: Authority, clientAddress: String? = nil) throws(AuthError) -> Int64 {
        let actor = try authorize(authority)
        return try mapped {
            guard let address = EmailAddress(email) else { throw AuthError.invalidEmail }
            if let rejection = passwordPolicy.check(password) { throw AuthError.weakPassword(rejection) }
            let hash = try hasher.hash(passwordPolicy.normalized(password) ?? password)
            switch try store.createUser(NewUser(email: address.value, emailKey: address.key, passwordHash: hash, registeredAt: now())) {
            case .emailTaken:
                throw AuthError.emailTaken
            case .created(let id):
                audit(.userCreated, userID: id, clientAddress: clientAddress, detail: actor)
                return id
            }
        }
    }

    // MARK: Internals

    /// Checks the authority; returns who acts, for the audit trail ("by user N", "by an operator").
    @discardableResult
    func authorize(_ authority: Authority) throws(AuthError) -> String {
        switch authority {
        case .token(let token): "by user \(try requireAdmin(token: token).userID)"
        case .operatorCommand: "by an operator"
        }
    }

    /// A cut-off at now (whole seconds), and when its row may be purged: once no token issued
    /// before it can be current under any configuration, whose lifetimes are at most `lifetime`'s
    /// upper bound (the operator command does not know the servers' lifetimes).
    func cutoffNow(outliving lifetime: Bounded<Duration>) -> (cutoff: Int64, purgeAfter: Date) {
        let at = now()
        let purgeAfter = at.addingTimeInterval((lifetime.range.upperBound + AuthConfiguration.Bounds.leeway.range.upperBound
                                                + .seconds(1)).timeInterval)
        return (Int64(at.timeIntervalSince1970.rounded(.down)), purgeAfter)
    }

    /// The user with that email: `invalidEmail` when it is not one, `userNotFound` when no one has it.
    func existingUser(_ email: String) throws -> UserRecord {
        guard let address = EmailAddress(email) else { throw AuthError.invalidEmail }
        guard let user = try store.user(emailKey: address.key) else { throw AuthError.userNotFound }
        return user
    }

    /// The token's user, who must exist and not be disabled.
    private func activeUser(_ id: Int64) throws -> UserRecord {
        guard let user = try store.user(id: id) else { throw AuthError.tokenInvalid }
        if user.isDisabled { throw AuthError.accountDisabled }
        return user
    }

    private func delete(_ user: UserRecord, detail: String, clientAddress: String?) throws {
        let times = sessionRevocationTimes(at: now())
        let ended = try store.deleteUser(userID: user.id, times: times)
        noteEnded(ended, times: times)
        // After the delete, which removed the email from the user's earlier rows: this one has none either.
        audit(.accountDeleted, userID: user.id, clientAddress: clientAddress, detail: detail)
    }

    /// The password check of a signed-in user: counted in the login buckets of its account and
    /// the client's address, released when it passes.
    private func checkPassword(_ password: String, of user: UserRecord, clientAddress: String?) throws {
        let at = now()
        let buckets = LoginThrottle.buckets(policy: configuration.throttle, emailKey: user.emailKey,
                                            address: clientAddress.map(LoginThrottle.normalize), knownAddress: false)
        let attempt = TokenID.random()
        if case .denied(let retryAfter, let bucket) = try store.acquireAttempt(attempt, buckets: buckets, now: at) {
            auditRefusal(.passwordCheckThrottled, bucket: bucket, in: buckets, at: at, userID: user.id, clientAddress: clientAddress)
            throw AuthError.throttled(retryAfter: retryAfter)
        }
        let matches = passwordPolicy.normalized(password).map { verifyPassword(password, normalized: $0, against: user.passwordHash).matches } ?? false
        guard matches else {
            audit(.passwordCheckFailed, userID: user.id, clientAddress: clientAddress)
            throw AuthError.wrongPassword
        }
        try store.releaseAttempt(attempt)
    }

    /// Ends the sessions in this instance's memory too (other instances learn it from the feed).
    private func noteEnded(_ families: [TokenID], times: SessionRevocation.Times) {
        let until = seconds(times.accessTokensUntil)
        revocations.add([], cutoffs: [], sessions: families.map { RevokedSessionEntry(id: $0, expiresAt: until) })
    }
}
