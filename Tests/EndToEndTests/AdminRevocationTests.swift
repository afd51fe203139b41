import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// `authd admin revoke EMAIL` (a separate process, on the same database) withdraws the rights of
/// every token that carries `adm`: the running server refuses them within the revocation bound,
/// while the user's other tokens stay valid and a refresh issues one without `adm`.
final class AdminRevocationTests: AuthdTestCase {
    override class var authdArguments: [String] { ["--revocation-poll-ms", "200"] }

    func testWithdrawnAdminRightsRevokeAdminTokensWithinTheBound() throws {
        let authd = try server()
        let client = try client()
        let user = try registerUser(client, prefix: "ex-admin")
        let grant = try authd.runSubcommand(["admin", "grant", user.email])
        XCTAssertEqual(grant.status, 0, grant.stderr)
        let adminLogin = try client.login(LoginRequest(email: user.email, password: user.password))
        remember(adminLogin.token, adminLogin.refreshToken)
        XCTAssertTrue(try client.validate(ValidateRequest(token: adminLogin.token)).admin)

        let withdraw = try authd.runSubcommand(["admin", "revoke", user.email])
        XCTAssertEqual(withdraw.status, 0, withdraw.stderr)
        let withdrawn = Date()
        var refusal: TokenRefusal?
        _ = waitUntil(timeout: .seconds(10), poll: .milliseconds(50)) {
            refusal = try? client.validate(ValidateRequest(token: adminLogin.token)).refusal
            return refusal == .revoked
        }
        XCTAssertEqual(refusal, .revoked, "a token saying adm after the rights were withdrawn")
        // One 200 ms poll plus its duration, and a margin for a loaded 2-core machine.
        XCTAssertLessThan(Date().timeIntervalSince(withdrawn), 0.2 + 1.8, "within the revocation bound")
        XCTAssertRPCError(try client.revokeAll(RevokeAllRequest(userId: user.tokens.userId), options: .bearer(adminLogin.token)),
                          .unauthenticated)

        let plain = try client.validate(ValidateRequest(token: user.tokens.token))
        XCTAssertTrue(plain.valid, "a token without adm stays valid")
        XCTAssertFalse(plain.admin)
        let refreshed = try client.refresh(RefreshRequest(refreshToken: adminLogin.refreshToken))
        remember(refreshed.token, refreshed.refreshToken)
        let again = try client.validate(ValidateRequest(token: refreshed.token))
        XCTAssertTrue(again.valid)
        XCTAssertFalse(again.admin)
    }
}
