import Foundation
import Support

/// What `createService` and `rotateServiceSecret` hand back once: the secret is never stored.
public struct ServiceCredentials: Sendable, Equatable {
    public var clientID: String
    public var clientSecret: String
}

/// A service token (client credentials): no refresh token.
public struct IssuedServiceToken: Sendable, Equatable {
    public var clientID: String
    public var accessToken: String
    public var expiresAt: Date
    public var scopes: [String]
}

/// The bound client certificates of enabled service accounts, in memory (for Validate's caller check).
struct ServiceBindings: Sendable {
    var subjects: Set<String> = []
    var uriSANs: Set<String> = []
}

/// Service accounts (client credentials, mTLS bindings, scopes) and users' roles.
///
/// A service token's `sub` is "svc:<client id>" (`ServiceIdentity`), its `scope` claim the
/// granted scopes; it lives `serviceTokenLifetime` and is signed like user tokens. Disabling or
/// deleting an account refuses its tokens through the revocation feed, keyed by the account's
/// `ServiceIdentity.revocationKey`. Failed ServiceToken attempts are counted in throttle buckets
/// per client id and per address (the latter shared with logins); once one is full, further
/// attempts for that key are refused from memory without a database write until it frees.
extension AuthCore {
    // MARK: Administration

    /// Creates an account with `scopes` and a new secret (returned once).
    public func createService(clientID: String, scopes: [String], authority: Authority,
                              clientAddress: String? = nil) throws(AuthError) -> ServiceCredentials {
        let actor = try authorize(authority)
        return try mapped {
            guard ServiceIdentity.isValidClientID(clientID) else {
                throw AuthError.invalidRequest("A service name is 1 to 64 of a-z 0-9 . _ - and starts with a letter or digit.")
            }
            try Self.checkNames(scopes, what: "scope")
            let secrets = try secretHasher()
            let secret = ServiceSecrets.generate()
            let record = ServiceAccountRecord(clientID: clientID, scopes: scopes, secretHash: secrets.hash(secret), createdAt: now())
            guard try serviceStore().createServiceAccount(record) else { throw AuthError.serviceExists }
            audit(.serviceCreated, clientAddress: clientAddress,
                  detail: "service \(clientID), scopes [\(scopes.joined(separator: " "))] \(actor)")
            return ServiceCredentials(clientID: clientID, clientSecret: secret)
        }
    }

    /// Every service account (no secrets: their hashes are not shown either).
    public func services(authority: Authority) throws(AuthError) -> [ServiceAccountRecord] {
        _ = try authorize(authority)
        return try mapped { try serviceStore().serviceAccounts() }
    }

    public func service(clientID: String, authority: Authority) throws(AuthError) -> ServiceAccountRecord {
        _ = try authorize(authority)
        return try mapped {
            guard let account = try serviceStore().serviceAccount(clientID: clientID) else { throw AuthError.serviceNotFound }
            return account
        }
    }

    /// A new secret (returned once); the previous one keeps working for `serviceSecretGrace`.
    public func rotateServiceSecret(clientID: String, authority: Authority,
                                    clientAddress: String? = nil) throws(AuthError) -> (credentials: ServiceCredentials, previousValidUntil: Date) {
        let actor = try authorize(authority)
        return try mapped {
            let secrets = try secretHasher()
            let store = try serviceStore()
            guard let account = try store.serviceAccount(clientID: clientID) else { throw AuthError.serviceNotFound }
            let secret = ServiceSecrets.generate()
            let until = now().addingTimeInterval(configuration.serviceSecretGrace.timeInterval)
            guard try store.replaceServiceSecret(clientID: clientID, hash: secrets.hash(secret), previousHash: account.secretHash,
                                                 previousValidUntil: until) else { throw AuthError.serviceNotFound }
            audit(.serviceSecretRotated, clientAddress: clientAddress,
                  detail: "service \(clientID), previous secret valid until \(Int64(until.timeIntervalSince1970)) \(actor)")
            return (ServiceCredentials(clientID: clientID, clientSecret: secret), until)
        }
    }

    /// Binds a verified client certificate (its subject DN or URI SAN) to the account: a
    /// ServiceToken call over a connection with that certificate needs no secret.
    public func bindServiceCertificate(clientID: String, certificate: CertificateIdentity, authority: Authority,
                                       clientAddress: String? = nil) throws(AuthError) {
        let actor = try authorize(authority)
        try mapped {
            guard !certificate.isEmpty, (certificate.subject ?? "").utf8.count <= 255, (certificate.uriSAN ?? "").utf8.count <= 255 else {
                throw AuthError.invalidRequest("Give a certificate subject or URI SAN of at most 255 bytes.")
            }
            do {
                guard try serviceStore().bindServiceCertificate(clientID: clientID, certificate: certificate) else {
                    throw AuthError.serviceNotFound
                }
            } catch let error as StoreError where error.kind == .duplicate {
                throw AuthError.invalidRequest("Another service account is bound to that certificate.")
            }
            let what = certificate.uriSAN.map { "URI SAN \($0)" } ?? "subject \(certificate.subject ?? "")"
            audit(.serviceCertificateBound, clientAddress: clientAddress, detail: "service \(clientID), \(what) \(actor)")
        }
    }

    /// Disables (no new tokens; its tokens refused within the revocation bound, and still after
    /// enabling) or enables an account.
    public func setServiceDisabled(clientID: String, disabled: Bool, authority: Authority,
                                   clientAddress: String? = nil) throws(AuthError) {
        let actor = try authorize(authority)
        try mapped {
            let (cutoff, purgeAfter) = cutoffNow(outliving: AuthConfiguration.Bounds.serviceTokenLifetime)
            guard try serviceStore().setServiceDisabled(clientID: clientID, disabled: disabled, cutoff: cutoff, purgeAfter: purgeAfter) else {
                throw AuthError.serviceNotFound
            }
            if disabled {
                revocations.add([], cutoffs: [RevocationCutoff(userID: ServiceIdentity.revocationKey(clientID), cutoff: 0,
                                                                disabledCutoff: cutoff, purgeAfter: seconds(purgeAfter))])
            }
            audit(disabled ? .serviceDisabled : .serviceEnabled, clientAddress: clientAddress, detail: "service \(clientID) \(actor)")
        }
    }

    /// Deletes an account; its tokens are refused (revoked) within the revocation bound.
    public func deleteService(clientID: String, authority: Authority, clientAddress: String? = nil) throws(AuthError) {
        let actor = try authorize(authority)
        try mapped {
            let (cutoff, purgeAfter) = cutoffNow(outliving: AuthConfiguration.Bounds.serviceTokenLifetime)
            guard try serviceStore().deleteServiceAccount(clientID: clientID, cutoff: cutoff, purgeAfter: purgeAfter) else {
                throw AuthError.serviceNotFound
            }
            revocations.add([], cutoffs: [RevocationCutoff(userID: ServiceIdentity.revocationKey(clientID), cutoff: cutoff,
                                                            purgeAfter: seconds(purgeAfter))])
            audit(.serviceDeleted, clientAddress: clientAddress, detail: "service \(clientID) \(actor)")
        }
    }

    /// Grants or withdraws a user's role. Tokens carry the roles their user had when issued
    /// (`roles` claim): a withdrawn role leaves tokens issued before until they expire.
    public func setRole(email: String, role: String, granted: Bool, authority: Authority,
                        clientAddress: String? = nil) throws(AuthError) {
        let actor = try authorize(authority)
        try mapped {
            guard ServiceIdentity.isValidName(role) else {
                throw AuthError.invalidRequest("A role is 1 to 64 of A-Z a-z 0-9 . _ - : /.")
            }
            let user = try existingUser(email)
            let store = try serviceStore()
            if granted {
                let held = try store.roles(userID: user.id)
                if !held.contains(role), held.count >= ServiceIdentity.maximumNames {
                    throw AuthError.invalidRequest("A user has at most \(ServiceIdentity.maximumNames) roles.")
                }
            }
            _ = try store.setRole(userID: user.id, role: role, granted: granted)
            audit(granted ? .roleGranted : .roleRevoked, userID: user.id, clientAddress: clientAddress, detail: "role \(role) \(actor)")
        }
    }

    /// The user's roles.
    public func roles(email: String, authority: Authority) throws(AuthError) -> [String] {
        _ = try authorize(authority)
        return try mapped {
            let user = try existingUser(email)
            return try serviceStore().roles(userID: user.id)
        }
    }

    // MARK: Client credentials

    /// A service token for `clientID` and `secret`, or, with an empty secret, for the account
    /// bound to `certificate` (when `clientID` is given too, it must be that account's).
    /// `scopes`: a subset of the account's (empty: all of them).
    /// Throws `invalidClientCredentials`, `throttled`, `accountDisabled`, `scopeNotGranted`, `storeUnavailable`.
    public func serviceToken(clientID: String, secret: String, scopes requested: [String], certificate: CertificateIdentity?,
                             clientAddress: String?) throws(AuthError) -> IssuedServiceToken {
        try mapped {
            let at = now()
            let address = clientAddress.map(LoginThrottle.normalize)
            let buckets = Self.serviceBuckets(policy: configuration.throttle, clientID: clientID, address: address)
            if let retry = throttledFor(buckets, at: at) { throw AuthError.throttled(retryAfter: retry) }
            let store = try serviceStore()
            var account: ServiceAccountRecord?
            if !secret.isEmpty {
                if let secrets = configuration.serviceSecretKey.map(ServiceSecrets.init),
                   ServiceIdentity.isValidClientID(clientID), let found = try store.serviceAccount(clientID: clientID),
                   secrets.matches(secret, account: found, now: at) {
                    account = found
                }
            } else if let certificate, !certificate.isEmpty, let found = try store.serviceAccount(certificate: certificate),
                      clientID.isEmpty || found.clientID == clientID {
                account = found
            }
            guard let account else {
                try refuseServiceToken(clientID: clientID, buckets: buckets, at: at, clientAddress: clientAddress)
                throw AuthError.invalidClientCredentials
            }
            let how = secret.isEmpty ? "certificate" : "secret"
            if account.isDisabled {
                auditService(.serviceTokenRefused, clientID: account.clientID, at: at, clientAddress: clientAddress, detail: "account disabled")
                throw AuthError.accountDisabled
            }
            var granted = account.scopes
            if !requested.isEmpty {
                guard requested.allSatisfy(account.scopes.contains) else {
                    auditService(.serviceTokenRefused, clientID: account.clientID, at: at, clientAddress: clientAddress,
                                 detail: "scope not granted")
                    throw AuthError.scopeNotGranted
                }
                granted = requested.reduce(into: []) { list, s in if !list.contains(s) { list.append(s) } }
            }
            let iat = Int64(at.timeIntervalSince1970.rounded(.down))
            let exp = iat + Int64(configuration.serviceTokenLifetime.timeInterval.rounded(.up))
            let claims = AccessClaims(userID: ServiceIdentity.revocationKey(account.clientID), issuedAt: iat, expiresAt: exp,
                                      tokenID: .random(), clientID: account.clientID, scopes: granted)
            let token = codecs.withCodec { $0.sign(claims) }
            auditService(.serviceToken, clientID: account.clientID, at: at, clientAddress: clientAddress, detail: "by \(how)")
            return IssuedServiceToken(clientID: account.clientID, accessToken: token,
                                      expiresAt: Date(timeIntervalSince1970: TimeInterval(exp)), scopes: granted)
        }
    }

    /// Whether a verified client certificate is bound to an enabled service account, from memory
    /// (`followServiceBindings`): no database, a set lookup under a lock.
    public func serviceCertificateBound(subject: String?, uriSAN: String?) -> Bool {
        guard subject != nil || uriSAN != nil else { return false }
        return serviceBindings.withLock { b in
            (uriSAN.map(b.uriSANs.contains) ?? false) || (subject.map(b.subjects.contains) ?? false)
        }
    }

    /// Re-reads the bound certificates of enabled accounts (the poller does this when
    /// `followServiceBindings`; tests call it).
    public func refreshServiceBindings() throws(AuthError) {
        let bindings = try mapped {
            try serviceStore().serviceAccounts().filter { !$0.isDisabled }.reduce(into: ServiceBindings()) { b, a in
                if let s = a.certificateSubject { b.subjects.insert(s) }
                if let u = a.certificateURISAN { b.uriSANs.insert(u) }
            }
        }
        serviceBindings.withLock { $0 = bindings }
    }

    // MARK: Internals

    func serviceStore() throws -> any ServiceAccountStore {
        guard let s = store as? any ServiceAccountStore else { throw AuthError.internal("the store keeps no service accounts") }
        return s
    }

    /// The roles tokens of `userID` carry (none with a store that keeps none).
    func userRoles(_ userID: Int64) throws -> [String] {
        guard let s = store as? any ServiceAccountStore else { return [] }
        return try s.roles(userID: userID)
    }

    private func secretHasher() throws -> ServiceSecrets {
        guard let key = configuration.serviceSecretKey else {
            throw AuthError.invalidRequest("Service client secrets need the key-encryption key (--key-encryption-key-file, or --dev).")
        }
        return ServiceSecrets(encryptionKey: key)
    }

    private static func checkNames(_ names: [String], what: String) throws {
        guard names.count <= ServiceIdentity.maximumNames, names.allSatisfy(ServiceIdentity.isValidName) else {
            throw AuthError.invalidRequest("A \(what) is 1 to 64 of A-Z a-z 0-9 . _ - : / (at most \(ServiceIdentity.maximumNames)).")
        }
    }

    static func serviceBuckets(policy: ThrottlePolicy, clientID: String, address: String?) -> [ThrottleBucket] {
        var buckets = [ThrottleBucket(key: "c:" + Digest.hex(Digest.sha256(clientID.utf8)), limit: policy.accountLimit,
                                      window: policy.accountWindow.timeInterval)]
        if let address { buckets.append(ThrottleBucket(key: "i:" + address, limit: policy.addressLimit, window: policy.addressWindow.timeInterval)) }
        return buckets
    }

    /// Seconds until the buckets' remembered denial ends, when one is remembered and current.
    private func throttledFor(_ buckets: [ThrottleBucket], at: Date) -> TimeInterval? {
        let t = at.timeIntervalSince1970
        return serviceDenials.withLock { memo -> TimeInterval? in
            let until = buckets.compactMap { memo[$0.key] }.filter { $0 > t }.max()
            return until.map { $0 - t }
        }
    }

    /// Counts a failed attempt; throws `throttled` (and remembers the denial) when a bucket is full.
    private func refuseServiceToken(clientID: String, buckets: [ThrottleBucket], at: Date, clientAddress: String?) throws {
        let shown = ServiceIdentity.isValidClientID(clientID) ? clientID : "(invalid)"
        if case .denied(let retryAfter, let bucket) = try store.acquireAttempt(TokenID.random(), buckets: buckets, now: at) {
            serviceDenials.withLock { memo in
                if memo.count > 10_000 { memo = memo.filter { $0.value > at.timeIntervalSince1970 } }
                memo[bucket] = at.timeIntervalSince1970 + retryAfter
            }
            auditRefusal(.serviceTokenThrottled, bucket: bucket, in: buckets, at: at, clientAddress: clientAddress)
            throw AuthError.throttled(retryAfter: retryAfter)
        }
        auditService(.serviceTokenRefused, clientID: shown, at: at, clientAddress: clientAddress, detail: "invalid credentials")
    }

    /// Service token grants and refusals are audited in aggregate: one row per kind, client id,
    /// address and minute, with a count (a busy service writes one row a minute, not one a call).
    private func auditService(_ kind: AuditEvent.Kind, clientID: String, at: Date, clientAddress: String?, detail: String) {
        let minute = Int64(at.timeIntervalSince1970 / 60)
        let aggregate = Digest.sha256(Array("\(kind.rawValue)\u{0}\(clientID)\u{0}\(clientAddress ?? "")\u{0}\(detail)\u{0}\(minute)".utf8))
        do {
            try store.appendAudit(AuditEvent(at: at, kind: kind, clientAddress: clientAddress, detail: "service \(clientID), \(detail)"),
                                  aggregate: aggregate)
        } catch {
            logger.error("audit event not written", metadata: ["event": "\(kind.rawValue)", "error": "\(error)"])
        }
    }
}
