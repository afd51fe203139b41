import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// Refresh-token rotation and reuse detection, administrators and revoke-all, login throttling.
final class TokenLifecycleTests: AuthdTestCase {
    func testRefreshRotatesAndDetectsReuse() throws {
        let client = try client()
        let user = try registerUser(client)
        let first = user.tokens

        let second = try client.refresh(RefreshRequest(refreshToken: first.refreshToken))
        remember(second.token, second.refreshToken)
        XCTAssertEqual(second.userId, first.userId)
        XCTAssertNotEqual(second.refreshToken, first.refreshToken, "rotated")
        XCTAssertNotEqual(second.token, first.token)
        let valid = try client.validate(ValidateRequest(token: second.token))
        XCTAssertTrue(valid.valid)
        XCTAssertEqual(valid.userId, first.userId)

        // The spent refresh token again: reuse, and the whole family dies with it.
        XCTAssertRPCError(try client.refresh(RefreshRequest(refreshToken: first.refreshToken)), .unauthenticated,
                          "Refresh token already used; the session is revoked. Please log in again.")
        XCTAssertRPCError(try client.refresh(RefreshRequest(refreshToken: second.refreshToken)), .unauthenticated,
                          "Invalid refresh token. Please log in again.")
        for garbage in ["", "nope", String(repeating: "A", count: 43), first.token] {
            XCTAssertRPCError(try client.refresh(RefreshRequest(refreshToken: garbage)), .unauthenticated,
                              "Invalid refresh token. Please log in again.")
        }
    }

    func testLogoutEndsTheRefreshSession() throws {
        let client = try client()
        let user = try registerUser(client)
        _ = try client.logout(LogoutRequest(), options: .bearer(user.tokens.token))
        XCTAssertRPCError(try client.refresh(RefreshRequest(refreshToken: user.tokens.refreshToken)), .unauthenticated,
                          "Invalid refresh token. Please log in again.")
    }

    func testRevokeAllIsForAdministratorsAndRevokesEveryToken() throws {
        let authd = try server()
        let client = try client()
        let victim = try registerUser(client, prefix: "victim")
        let victimLogin = try client.login(LoginRequest(email: victim.email, password: victim.password))
        remember(victimLogin.token, victimLogin.refreshToken)
        let admin = try registerUser(client, prefix: "admin")

        XCTAssertRPCError(try client.revokeAll(RevokeAllRequest(userId: victim.tokens.userId), options: .bearer(admin.tokens.token)),
                          .permissionDenied, "Administrator rights required.")

        // The operator command, with the same database settings as the server.
        let grant = try authd.runSubcommand(["admin", "grant", admin.email])
        XCTAssertEqual(grant.status, 0, grant.stderr)
        XCTAssertTrue(grant.stdout.contains("\(admin.email) is now an administrator"), grant.stdout)
        let missing = try authd.runSubcommand(["admin", "grant", uniqueEmail("nobody")])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("No such user."), missing.stderr)

        // A token issued before the grant has no `adm` claim; Status reads the database.
        XCTAssertFalse(try client.validate(ValidateRequest(token: admin.tokens.token)).admin)
        XCTAssertTrue(try client.status(StatusRequest(), options: .bearer(admin.tokens.token)).admin)
        let adminLogin = try client.login(LoginRequest(email: admin.email, password: admin.password))
        remember(adminLogin.token, adminLogin.refreshToken)
        let adminValid = try client.validate(ValidateRequest(token: adminLogin.token))
        XCTAssertTrue(adminValid.valid)
        XCTAssertTrue(adminValid.admin, "a token issued after the grant carries adm")

        let before = epochNow()
        let reply = try client.revokeAll(RevokeAllRequest(userId: victim.tokens.userId), options: .bearer(adminLogin.token))
        let after = epochNow()
        XCTAssertGreaterThan(reply.revokedBefore, before)
        XCTAssertLessThanOrEqual(reply.revokedBefore, after + 1)
        for token in [victim.tokens.token, victimLogin.token] {
            XCTAssertEqual(try client.validate(ValidateRequest(token: token)).refusal, .revoked)
            XCTAssertRPCError(try client.status(StatusRequest(), options: .bearer(token)),
                              .unauthenticated, "Token blacklisted. Please log in again.")
        }
        for refresh in [victim.tokens.refreshToken, victimLogin.refreshToken] {
            XCTAssertRPCError(try client.refresh(RefreshRequest(refreshToken: refresh)), .unauthenticated)
        }
        // The administrator's own tokens are untouched; the victim may log in again (a second later:
        // the cut-off covers the whole second of the call).
        XCTAssertTrue(try client.validate(ValidateRequest(token: adminLogin.token)).valid)
        sleepUntilAfter(second: after)
        let fresh = try client.login(LoginRequest(email: victim.email, password: victim.password))
        remember(fresh.token, fresh.refreshToken)
        XCTAssertTrue(try client.validate(ValidateRequest(token: fresh.token)).valid)

        XCTAssertRPCError(try client.revokeAll(RevokeAllRequest(userId: 987_654_321), options: .bearer(adminLogin.token)),
                          .notFound, "No such user.")

        // Withdrawn: admin rights are checked against the database, not the token's claim, at once;
        // and within the revocation bound every token carrying `adm` is revoked as well.
        let revoke = try authd.runSubcommand(["admin", "revoke", admin.email])
        XCTAssertEqual(revoke.status, 0, revoke.stderr)
        XCTAssertTrue(revoke.stdout.contains("is no longer an administrator"), revoke.stdout)
        do {
            _ = try client.revokeAll(RevokeAllRequest(userId: victim.tokens.userId), options: .bearer(adminLogin.token))
            XCTFail("a withdrawn administrator's token still revokes")
        } catch let error as RPCError {
            let refusals = ["PERMISSION_DENIED: Administrator rights required.", "UNAUTHENTICATED: Token blacklisted. Please log in again."]
            XCTAssertTrue(refusals.contains("\(error.code.name): \(error.message)"), "\(error)")
        }
        try waitUntil(timeout: .seconds(5), poll: .milliseconds(50)) {
            try client.validate(ValidateRequest(token: adminLogin.token)).refusal == .revoked
        }
        XCTAssertRPCError(try client.revokeAll(RevokeAllRequest(userId: victim.tokens.userId), options: .bearer(adminLogin.token)),
                          .unauthenticated, "Token blacklisted. Please log in again.")
        let plain = try client.login(LoginRequest(email: admin.email, password: admin.password))
        remember(plain.token, plain.refreshToken)
        XCTAssertFalse(try client.validate(ValidateRequest(token: plain.token)).admin)
        XCTAssertTrue(try client.validate(ValidateRequest(token: fresh.token)).valid, "the victim's new token survived")
    }

    /// Two instances on one database: a logout on one is honoured by the other within its
    /// revocation poll interval (500 ms by default), though Validate never reads the database.
    func testALogoutOnOneInstanceReachesAnother() throws {
        let first = try server()
        let second = try AuthdProcess.start(databaseName: first.databaseName, secret: first.secret)
        second.keepDatabase = true  // the class's server owns it
        defer { second.stop() }
        let one = try client()
        let otherConnection = try second.connect()
        defer { otherConnection.close() }
        let two = Auth.Client(transport: otherConnection)

        let user = try registerUser(one)
        XCTAssertEqual(try two.status(StatusRequest(), options: .bearer(user.tokens.token)).userId, user.tokens.userId,
                       "the instances share the database and the secret")
        XCTAssertTrue(try two.validate(ValidateRequest(token: user.tokens.token)).valid)
        _ = try one.logout(LogoutRequest(), options: .bearer(user.tokens.token))
        let loggedOut = Date()
        var refusal = TokenRefusal.none
        try waitUntil(timeout: .seconds(5), poll: .milliseconds(50)) {
            refusal = try two.validate(ValidateRequest(token: user.tokens.token)).refusal
            return refusal == .revoked
        }
        XCTAssertEqual(refusal, .revoked)
        // One poll interval (1 s) plus a margin for a loaded 2-core machine ("never" runs into the 5 s above).
        XCTAssertLessThan(Date().timeIntervalSince(loggedOut), 1 + 1.5, "within one poll interval plus a poll")
        assertNoSecrets(in: second.log, [user.password, user.tokens.token, user.tokens.refreshToken])
    }

    /// The core's pair limit: 10 failures per account and address in 15 minutes; the 11th attempt is
    /// refused before any password check, even with the right password.
    func testThrottlingAfterTenFailuresFromOneAddress() throws {
        let client = try client()
        let user = try registerUser(client, prefix: "throttled")
        for _ in 1...10 {
            XCTAssertRPCError(try client.login(LoginRequest(email: user.email, password: uniquePassword())),
                              .unauthenticated, "Invalid email or password.")
        }
        let wrong = XCTAssertRPCError(try client.login(LoginRequest(email: user.email, password: uniquePassword())),
                                      .resourceExhausted)
        XCTAssertTrue(wrong?.message.hasPrefix("Too many failed attempts. Try again in ") ?? false, wrong?.message ?? "")
        XCTAssertRPCError(try client.login(LoginRequest(email: user.email, password: user.password)), .resourceExhausted)
        // Tokens already issued are unaffected, and so is another account.
        XCTAssertTrue(try client.validate(ValidateRequest(token: user.tokens.token)).valid)
        let other = try registerUser(client)
        let login = try client.login(LoginRequest(email: other.email, password: other.password))
        remember(login.token, login.refreshToken)

        // Unknown emails are throttled exactly like known ones.
        let ghost = uniqueEmail("ghost")
        for _ in 1...10 {
            XCTAssertRPCError(try client.login(LoginRequest(email: ghost, password: uniquePassword())), .unauthenticated)
        }
        XCTAssertRPCError(try client.login(LoginRequest(email: ghost, password: uniquePassword())), .resourceExhausted)
    }
}

/// Access tokens that expire: a one-second lifetime and no leeway.
final class ExpiredTokenTests: AuthdTestCase {
    override class var authdArguments: [String] { ["--access-ttl", "1", "--leeway", "0"] }

    func testExpiredTokensAreRefusedWithTheSeedMessage() throws {
        let client = try client()
        let user = try registerUser(client)
        XCTAssertEqual(user.tokens.expiresAt - epochNow(), 1, accuracy: 1)
        Thread.sleep(forTimeInterval: 2.1)

        let expired = "Signature expired. Please log in again."
        XCTAssertRPCError(try client.logout(LogoutRequest(), options: .bearer(user.tokens.token)), .unauthenticated, expired)
        XCTAssertRPCError(try client.status(StatusRequest(), options: .bearer(user.tokens.token)), .unauthenticated, expired)
        let validate = try client.validate(ValidateRequest(token: user.tokens.token))
        XCTAssertFalse(validate.valid)
        XCTAssertEqual(validate.refusal, .expired)
        XCTAssertEqual(validate.message, expired)

        // The refresh token outlives the access token.
        let renewed = try client.refresh(RefreshRequest(refreshToken: user.tokens.refreshToken))
        remember(renewed.token, renewed.refreshToken)
        XCTAssertTrue(try client.validate(ValidateRequest(token: renewed.token)).valid)
    }
}

/// Overload: one worker and a queue of one, so concurrent argon2id-bound calls overflow the pool
/// and are answered RESOURCE_EXHAUSTED at once (never queued without bound).
final class OverloadTests: AuthdTestCase {
    override class var authdArguments: [String] {
        ["--workers", "1", "--worker-queue", "1", "--argon2-memory-kib", "19456", "--argon2-iterations", "2"]
    }

    func testAFullWorkerPoolAnswersResourceExhausted() async throws {
        let authd = try server()
        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        let password = uniquePassword()
        let outcomes = try await withThrowingTaskGroup(of: StatusCode.self) { group in
            for i in 0..<24 {
                group.addTask {
                    do {
                        let reply = try await client.register(RegisterRequest(email: "load-\(i)-\(UUID().uuidString.prefix(6))@example.com",
                                                                              password: password))
                        return reply.token.isEmpty ? .internalError : .ok
                    } catch let error as RPCError {
                        if error.code == .resourceExhausted {
                            XCTAssertEqual(error.message, "server overloaded, try again later")
                        }
                        return error.code
                    }
                }
            }
            var all: [StatusCode] = []
            for try await code in group { all.append(code) }
            return all
        }
        XCTAssertEqual(Set(outcomes).subtracting([.ok, .resourceExhausted]), [], "\(outcomes)")
        XCTAssertGreaterThanOrEqual(outcomes.filter { $0 == .ok }.count, 1, "\(outcomes)")
        XCTAssertGreaterThanOrEqual(outcomes.filter { $0 == .resourceExhausted }.count, 1, "\(outcomes)")
        // Once the burst is over, the server answers normally again.
        let health = try await client.health(HealthRequest())
        XCTAssertEqual(health.status, .serving)
        _ = try await client.register(RegisterRequest(email: uniqueEmail("after"), password: password))
        // The refusals are logged (a summary line a second, not a line per refused call).
        authd.stop(dropDatabase: false)
        let lines = authd.log.split(separator: "\n").filter { $0.contains("calls refused: server overloaded") }
        XCTAssertFalse(lines.isEmpty, authd.log(tail: 10))
        XCTAssertTrue(lines.allSatisfy { $0.contains("code=RESOURCE_EXHAUSTED") }, "\(lines)")
    }
}
