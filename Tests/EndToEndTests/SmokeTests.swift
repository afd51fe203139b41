import AuthAPI
import AuthClient
import RPCCore
import RPCTransport
import TestSupport
import XCTest

/// The shortest path through the whole system: a real authd over TLS on a real MariaDB.
final class SmokeTests: XCTestCase {
    func testRegisterValidateLogout() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        let tokens = try client.register(RegisterRequest(email: "smoke@example.com", password: "correct horse battery"))
        XCTAssertFalse(tokens.token.isEmpty)
        let valid = try client.validate(ValidateRequest(token: tokens.token))
        XCTAssertTrue(valid.valid)
        XCTAssertEqual(valid.userId, tokens.userId)
        _ = try client.logout(LogoutRequest(), options: .bearer(tokens.token))
        let revoked = try client.validate(ValidateRequest(token: tokens.token))
        XCTAssertEqual(revoked.refusal, .revoked)
        XCTAssertEqual(revoked.message, "Token blacklisted. Please log in again.")
    }
}
