import AuthAPI
import AuthClient
import AuthCore
import Foundation
import RPCCore
import TestSupport
@testable import AuthService
import XCTest

/// Every Auth method through the in-process transport and the generated client: successes, the
/// statuses and messages of its errors (AuthErrorMapping), Validate's refusals, Health, and
/// where each method runs.
final class AuthServiceTests: XCTestCase {
    private var fixture: AuthServiceFixture!

    override func setUpWithError() throws {
        fixture = try AuthServiceFixture()
    }

    override func tearDown() {
        fixture.stop()
        fixture = nil
    }

    func testValidateAndHealthRunInlineEverythingElseBlocking() {
        let methods = AuthServiceHandler.service(core: fixture.core, logger: AuthServiceFixture.logger).methods
        let kinds = Dictionary(uniqueKeysWithValues: methods.map { ($0.descriptor.method, $0.kind) })
        XCTAssertEqual(kinds, ["Register": .blocking, "Login": .blocking, "Status": .blocking, "Logout": .blocking,
                               "Validate": .inline, "Refresh": .blocking, "RevokeAll": .blocking, "Health": .inline,
                               "ChangePassword": .blocking, "ListSessions": .blocking, "RevokeSession": .blocking, "LogoutAll": .blocking,
                               "DeleteAccount": .blocking, "ListUsers": .blocking, "DisableUser": .blocking, "EnableUser": .blocking,
                               "DeleteUser": .blocking, "IssueResetCode": .blocking, "ResetPassword": .blocking, "AuditEvents": .blocking,
                               "ServiceToken": .blocking,
                               "CreateUser": .blocking, "Keys": .inline])
    }

    /// Keys answers the core's JWK Set, pre-encoded (the same bytes until the set changes), and a
    /// request with fields goes through the generated decoder to the same answer.
    func testKeysAnswersThePublishedKeySet() throws {
        var configuration = AuthTestConfiguration.make()
        configuration.keySet = KeySetConfiguration(encryptionKey: .random(), publishLead: .seconds(60))
        let core = try AuthCore(configuration: configuration, store: InMemoryAuthStore())
        let methods = AuthServiceHandler.service(core: core, logger: AuthServiceFixture.logger).methods
        let keys = try XCTUnwrap(methods.first { $0.descriptor == Auth.Method.keys })
        let first = try keys.handler([], ServerContext())
        XCTAssertEqual(try keys.handler([], ServerContext()), first)
        let reply = try KeysReply(serializedBytes: first)
        XCTAssertEqual(reply.jwksJson, core.publishedKeys.jwks)
        XCTAssertTrue(reply.jwksJson.contains(try XCTUnwrap(core.signingKeyID)))
        XCTAssertEqual(reply.maxAgeSeconds, 30)
        // An unknown field (proto3 ignores it) takes the generated path.
        XCTAssertEqual(try KeysReply(serializedBytes: try keys.handler([0x08, 0x01], ServerContext())), reply)
    }

    func testRegisterLoginStatusLogout() throws {
        let registered = try fixture.register()
        XCTAssertFalse(registered.token.isEmpty)
        XCTAssertFalse(registered.refreshToken.isEmpty)
        XCTAssertGreaterThan(registered.expiresAt, Int64(fixture.clock.now.timeIntervalSince1970))
        let login = try fixture.client.login(LoginRequest(email: "ada@example.com", password: "correct horse battery"))
        XCTAssertEqual(login.userId, registered.userId)
        let status = try fixture.client.status(StatusRequest(), options: .bearer(login.token))
        XCTAssertEqual(status.email, "ada@example.com")
        XCTAssertEqual(status.userId, registered.userId)
        XCTAssertFalse(status.admin)
        XCTAssertEqual(status.registeredOn, Int64(fixture.clock.now.timeIntervalSince1970))
        let logout = try fixture.client.logout(LogoutRequest(), options: .bearer(login.token))
        XCTAssertEqual(logout.message, "Successfully logged out.")
        XCTAssertEqual(rpcError { _ = try fixture.client.status(StatusRequest(), options: .bearer(login.token)) },
                       RPCError(.unauthenticated, "Token blacklisted. Please log in again."))
    }

    func testRegisterErrors() throws {
        XCTAssertEqual(rpcError { try fixture.register("not-an-email") },
                       RPCError(.invalidArgument, "Provide a valid email address."))
        XCTAssertEqual(rpcError { try fixture.register(password: "short") },
                       RPCError(.invalidArgument, "Password must have at least 8 characters."))
        try fixture.register()
        XCTAssertEqual(rpcError { try fixture.register() }, RPCError(.alreadyExists, "User already exists. Please log in."))
    }

    func testLoginErrorsAndThrottling() throws {
        try fixture.register()
        let wrong = LoginRequest(email: "ada@example.com", password: "wrong password here")
        let unknown = LoginRequest(email: "nobody@example.com", password: "correct horse battery")
        XCTAssertEqual(rpcError { _ = try fixture.client.login(unknown) }, RPCError(.unauthenticated, "Invalid email or password."))
        for _ in 0..<3 {
            XCTAssertEqual(rpcError { _ = try fixture.client.login(wrong) }, RPCError(.unauthenticated, "Invalid email or password."))
        }
        let throttled = rpcError { _ = try fixture.client.login(wrong) }
        XCTAssertEqual(throttled?.code, .resourceExhausted)
        XCTAssertTrue(throttled?.message.hasPrefix("Too many failed attempts. Try again in ") == true, "\(String(describing: throttled))")
    }

    func testTokenErrorsOfStatusAndLogout() throws {
        XCTAssertEqual(rpcError { _ = try fixture.client.status(StatusRequest()) },
                       RPCError(.unauthenticated, "Provide a valid auth token."))
        XCTAssertEqual(rpcError { _ = try fixture.client.logout(LogoutRequest(), options: .bearer("garbage")) },
                       RPCError(.unauthenticated, "Invalid token. Please log in again."))
        let tokens = try fixture.register()
        fixture.clock.advance(fixture.core.configuration.accessTokenLifetime + .seconds(60))
        XCTAssertEqual(rpcError { _ = try fixture.client.status(StatusRequest(), options: .bearer(tokens.token)) },
                       RPCError(.unauthenticated, "Signature expired. Please log in again."))
    }

    func testRefreshRotatesAndDetectsReuse() throws {
        let tokens = try fixture.register()
        let refreshed = try fixture.client.refresh(RefreshRequest(refreshToken: tokens.refreshToken))
        XCTAssertNotEqual(refreshed.refreshToken, tokens.refreshToken)
        XCTAssertEqual(refreshed.userId, tokens.userId)
        XCTAssertEqual(rpcError { _ = try fixture.client.refresh(RefreshRequest(refreshToken: tokens.refreshToken)) },
                       RPCError(.unauthenticated, "Refresh token already used; the session is revoked. Please log in again."))
        XCTAssertEqual(rpcError { _ = try fixture.client.refresh(RefreshRequest(refreshToken: "nonsense")) },
                       RPCError(.unauthenticated, "Invalid refresh token. Please log in again."))
    }

    func testRevokeAllNeedsAnAdministrator() throws {
        let user = try fixture.register("user@example.com")
        let admin = try fixture.register("admin@example.com")
        XCTAssertEqual(rpcError { _ = try fixture.client.revokeAll(RevokeAllRequest(userId: user.userId), options: .bearer(user.token)) },
                       RPCError(.permissionDenied, "Administrator rights required."))
        try fixture.core.setAdmin(email: "admin@example.com", admin: true)
        XCTAssertEqual(rpcError { _ = try fixture.client.revokeAll(RevokeAllRequest(userId: 999), options: .bearer(admin.token)) },
                       RPCError(.notFound, "No such user."))
        let reply = try fixture.client.revokeAll(RevokeAllRequest(userId: user.userId), options: .bearer(admin.token))
        XCTAssertEqual(reply.revokedBefore, Int64(fixture.clock.now.timeIntervalSince1970) + 1)
        let validated = try fixture.client.validate(ValidateRequest(token: user.token))
        XCTAssertEqual(validated.refusal, .revoked)
    }

    func testStoreOutageIsUnavailable() throws {
        fixture.store.failing.withLock { $0 = true }
        XCTAssertEqual(rpcError { try fixture.register() }, RPCError(.unavailable, "Service temporarily unavailable. Try again."))
    }

    /// A write still conflicting after the store's retries was rolled back: ABORTED, safe to retry.
    func testStoreConflictIsAborted() throws {
        fixture.store.failingKind.withLock { $0 = .conflict }
        fixture.store.failing.withLock { $0 = true }
        XCTAssertEqual(rpcError { try fixture.register() },
                       RPCError(.aborted, "The request conflicted with concurrent ones and was not applied. Try again."))
        fixture.store.failing.withLock { $0 = false }
        XCTAssertNoThrow(try fixture.register(), "the store answers again")
    }

    func testValidateAnswersAndRefusals() throws {
        let tokens = try fixture.register()
        let valid = try fixture.client.validate(ValidateRequest(token: tokens.token))
        XCTAssertTrue(valid.valid)
        XCTAssertEqual(valid.userId, tokens.userId)
        XCTAssertEqual(valid.expiresAt, tokens.expiresAt)
        XCTAssertEqual(valid.expiresIn, tokens.expiresAt - Int64(fixture.clock.now.timeIntervalSince1970))

        let missing = try fixture.client.validate(ValidateRequest(token: ""))
        XCTAssertEqual([missing.valid ? "valid" : "refused", "\(missing.refusal)", missing.message],
                       ["refused", "\(TokenRefusal.missing)", "Provide a valid auth token."])
        let invalid = try fixture.client.validate(ValidateRequest(token: "not.a.token"))
        XCTAssertEqual(invalid.refusal, .invalid)
        XCTAssertEqual(invalid.message, "Invalid token. Please log in again.")
        let nonASCII = try fixture.client.validate(ValidateRequest(token: "tökén"))
        XCTAssertEqual(nonASCII.refusal, .invalid, "the generated path answers what the fast path declines")

        _ = try fixture.client.logout(LogoutRequest(), options: .bearer(tokens.token))
        let revoked = try fixture.client.validate(ValidateRequest(token: tokens.token))
        XCTAssertEqual(revoked.refusal, .revoked)
        XCTAssertEqual(revoked.message, "Token blacklisted. Please log in again.")

        let later = try fixture.register("bob@example.com")
        fixture.clock.advance(fixture.core.configuration.accessTokenLifetime + .seconds(60))
        let expired = try fixture.client.validate(ValidateRequest(token: later.token))
        XCTAssertEqual(expired.refusal, .expired)
        XCTAssertEqual(expired.message, "Signature expired. Please log in again.")
        XCTAssertFalse(expired.valid)
    }

    /// A request the generated decoder rejects is INVALID_ARGUMENT, through the fast path's fallback too.
    func testMalformedValidateRequestIsInvalidArgument() throws {
        let transport = fixture.server.transport()
        let error = rpcError { _ = try transport.unary(Auth.Method.validate, request: [0x0A, 0x05, 0x41], options: CallOptions()) }
        XCTAssertEqual(error?.code, .invalidArgument)
    }

    func testHealth() throws {
        XCTAssertEqual(try fixture.client.health(HealthRequest()).status, .serving)
        XCTAssertEqual(try fixture.client.health(HealthRequest(service: "auth.v1.Auth")).status, .serving)
        XCTAssertEqual(rpcError { _ = try fixture.client.health(HealthRequest(service: "other.v1.Thing")) },
                       RPCError(.notFound, "Unknown service."))
        fixture.store.failing.withLock { $0 = true }
        fixture.core.probeHealth()
        XCTAssertEqual(try fixture.client.health(HealthRequest()).status, .notServing)
    }

    /// The async form of the generated client goes through the same transport.
    func testAsyncClient() async throws {
        let tokens = try await fixture.client.register(RegisterRequest(email: "async@example.com", password: "correct horse battery"))
        let valid = try await fixture.client.validate(ValidateRequest(token: tokens.token))
        XCTAssertTrue(valid.valid)
    }
}
