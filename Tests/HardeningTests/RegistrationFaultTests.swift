import AuthCore
import Foundation
import RPCCore
import XCTest

/// Found by scripts/faults: MariaDB going away between the two writes of a registration (the user
/// row, then the first refresh token) answered UNAVAILABLE for an account that now existed.
final class RegistrationFaultTests: XCTestCase {
    func testRegistrationWhoseRefreshTokenCannotBeStoredStillAnswersOK() throws {
        let store = FaultyStore(InMemoryAuthStore())
        var configuration = AuthConfiguration(signingKeys: ["k1": Array("0123456789abcdef0123456789abcdef-key".utf8)],
                                              activeKeyID: "k1")
        configuration.passwordHashing = Argon2Parameters(memoryKiB: 64, iterations: 1)
        let core = try AuthCore(configuration: configuration, store: store)
        store.failRefreshTokenInserts.withLock { $0 = true }
        let tokens = try core.register(email: "fault@example.com", password: "a long enough passphrase", clientAddress: nil)
        XCTAssertEqual(tokens.refreshToken, "", "no refresh token was stored, so none is handed out")
        guard case .valid(let claims) = core.validate(token: tokens.accessToken) else { return XCTFail("access token not valid") }
        XCTAssertEqual(claims.userID, tokens.userID)
        // The account is there: logging in works once the database is back.
        store.failRefreshTokenInserts.withLock { $0 = false }
        let again = try core.login(email: "fault@example.com", password: "a long enough passphrase", clientAddress: nil)
        XCTAssertEqual(again.userID, tokens.userID)
        XCTAssertFalse(again.refreshToken.isEmpty)
    }
}

/// A store that fails refresh-token inserts on demand, as a database that went away would.
final class FaultyStore: AuthStore {
    let base: InMemoryAuthStore
    let failRefreshTokenInserts = Locked(false)
    init(_ base: InMemoryAuthStore) { self.base = base }

    func insertRefreshToken(_ token: RefreshTokenRecord) throws {
        if failRefreshTokenInserts.withLock({ $0 }) { throw StoreError(.unavailable, "injected: server has gone away") }
        try base.insertRefreshToken(token)
    }

    func isHealthy() -> Bool { base.isHealthy() }
    func createUser(_ user: NewUser) throws -> CreateUserResult { try base.createUser(user) }
    func user(emailKey: String) throws -> UserRecord? { try base.user(emailKey: emailKey) }
    func user(id: Int64) throws -> UserRecord? { try base.user(id: id) }
    func updatePasswordHash(userID: Int64, hash: String) throws { try base.updatePasswordHash(userID: userID, hash: hash) }
    func setAdmin(emailKey: String, admin: Bool) throws -> Bool { try base.setAdmin(emailKey: emailKey, admin: admin) }
    func revokeToken(_ id: TokenID, userID: Int64, expiresAt: Date) throws { try base.revokeToken(id, userID: userID, expiresAt: expiresAt) }
    func setRevocationCutoff(userID: Int64, cutoff: Int64, purgeAfter: Date) throws {
        try base.setRevocationCutoff(userID: userID, cutoff: cutoff, purgeAfter: purgeAfter)
    }
    func revocations(since cursor: RevocationCursor?, now: Date) throws -> RevocationBatch { try base.revocations(since: cursor, now: now) }
    func purgeExpired(now: Date, attemptsBefore: Date) throws -> Int { try base.purgeExpired(now: now, attemptsBefore: attemptsBefore) }
    func rotateRefreshToken(presentedHash: [UInt8], replacementHash: [UInt8], replacementExpiresAt: Date,
                            now: Date) throws -> RefreshRotation {
        try base.rotateRefreshToken(presentedHash: presentedHash, replacementHash: replacementHash,
                                    replacementExpiresAt: replacementExpiresAt, now: now)
    }
    func revokeRefreshFamily(_ family: TokenID) throws { try base.revokeRefreshFamily(family) }
    func revokeRefreshTokens(userID: Int64) throws { try base.revokeRefreshTokens(userID: userID) }
    func acquireAttempt(_ attempt: TokenID, buckets: [ThrottleBucket], now: Date) throws -> ThrottleDecision {
        try base.acquireAttempt(attempt, buckets: buckets, now: now)
    }
    func releaseAttempt(_ attempt: TokenID) throws { try base.releaseAttempt(attempt) }
    func recordLoginSuccess(userID: Int64, address: String, at: Date) throws { try base.recordLoginSuccess(userID: userID, address: address, at: at) }
    func isKnownAddress(userID: Int64, address: String, since: Date) throws -> Bool {
        try base.isKnownAddress(userID: userID, address: address, since: since)
    }
    func appendAudit(_ event: AuditEvent) throws { try base.appendAudit(event) }
    func auditEvents(userID: Int64?, limit: Int) throws -> [AuditEvent] { try base.auditEvents(userID: userID, limit: limit) }
}
