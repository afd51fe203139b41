import AuthAPI
import Foundation
import RPCCore
import TestSupport
import XCTest

/// The seed tutorial's scenarios ("token-based auth with Flask"), carried through the RPC to a
/// real authd over TLS on MariaDB: registration, a taken email, login, status, logout, and the
/// three token errors plus the missing token, with the tutorial's messages.
final class SeedScenarioTests: AuthdTestCase {
    func testRegistrationIssuesAValidToken() throws {
        let client = try client()
        let before = epochNow()
        let user = try registerUser(client)
        XCTAssertGreaterThan(user.tokens.userId, 0)
        XCTAssertEqual(user.tokens.token.split(separator: ".").count, 3, "a compact JWS")
        XCTAssertEqual(user.tokens.refreshToken.count, 43, "256 random bits, base64url")
        XCTAssertEqual(user.tokens.expiresAt - before, 900, accuracy: 2, "the default access-token lifetime")
        XCTAssertGreaterThan(user.tokens.refreshExpiresAt, user.tokens.expiresAt)

        let valid = try client.validate(ValidateRequest(token: user.tokens.token))
        XCTAssertTrue(valid.valid)
        XCTAssertEqual(valid.userId, user.tokens.userId)
        XCTAssertFalse(valid.admin)
        XCTAssertEqual(valid.expiresAt, user.tokens.expiresAt)
        XCTAssertEqual(valid.expiresIn, 900, accuracy: 3)
        XCTAssertEqual(valid.refusal, .none)
        XCTAssertEqual(valid.message, "")
    }

    func testRegisteringATakenEmail() throws {
        let client = try client()
        let user = try registerUser(client, prefix: "Taken")
        XCTAssertRPCError(try client.register(RegisterRequest(email: user.email, password: uniquePassword())),
                          .alreadyExists, "User already exists. Please log in.")
        // Uniqueness ignores case and surrounding space.
        XCTAssertRPCError(try client.register(RegisterRequest(email: "  \(user.email.uppercased()) ", password: uniquePassword())),
                          .alreadyExists, "User already exists. Please log in.")
    }

    func testRegisteringABadEmailOrAWeakPassword() throws {
        let client = try client()
        for email in ["", "not-an-email", "a@b", "two@@example.com", String(repeating: "x", count: 300) + "@example.com"] {
            XCTAssertRPCError(try client.register(RegisterRequest(email: email, password: uniquePassword())),
                              .invalidArgument, "Provide a valid email address.")
        }
        XCTAssertRPCError(try client.register(RegisterRequest(email: uniqueEmail(), password: "short")),
                          .invalidArgument, "Password must have at least 8 characters.")
        XCTAssertRPCError(try client.register(RegisterRequest(email: uniqueEmail(), password: "password123")),
                          .invalidArgument, "Password is too common. Choose another.")
    }

    func testLoginOfAnUnregisteredUserIsTheSameErrorAsAWrongPassword() throws {
        let client = try client()
        let user = try registerUser(client)
        let unknown = XCTAssertRPCError(try client.login(LoginRequest(email: uniqueEmail("nobody"), password: user.password)),
                                        .unauthenticated, "Invalid email or password.")
        let wrong = XCTAssertRPCError(try client.login(LoginRequest(email: user.email, password: uniquePassword())),
                                      .unauthenticated, "Invalid email or password.")
        XCTAssertEqual(unknown, wrong, "an attacker cannot tell which emails exist")
        XCTAssertRPCError(try client.login(LoginRequest(email: "not-an-email", password: user.password)),
                          .unauthenticated, "Invalid email or password.")
    }

    func testLoginAndStatus() throws {
        let client = try client()
        let before = epochNow()
        let user = try registerUser(client, prefix: "Status")
        let after = epochNow()
        let login = try client.login(LoginRequest(email: user.email, password: user.password))
        remember(login.token, login.refreshToken)
        XCTAssertEqual(login.userId, user.tokens.userId)
        XCTAssertNotEqual(login.token, user.tokens.token)
        XCTAssertNotEqual(login.refreshToken, user.tokens.refreshToken)
        // Login ignores the email's case.
        let again = try client.login(LoginRequest(email: user.email.uppercased(), password: user.password))
        remember(again.token, again.refreshToken)
        XCTAssertEqual(again.userId, user.tokens.userId)

        let status = try client.status(StatusRequest(), options: .bearer(login.token))
        XCTAssertEqual(status.userId, user.tokens.userId)
        XCTAssertEqual(status.email, user.email)
        XCTAssertFalse(status.admin)
        XCTAssertGreaterThanOrEqual(status.registeredOn, before)
        XCTAssertLessThanOrEqual(status.registeredOn, after)
        // The token from registration works too.
        XCTAssertEqual(try client.status(StatusRequest(), options: .bearer(user.tokens.token)).userId, user.tokens.userId)
    }

    func testLogoutWithAValidTokenBlacklistsIt() throws {
        let client = try client()
        let user = try registerUser(client)
        let other = try client.login(LoginRequest(email: user.email, password: user.password))
        remember(other.token, other.refreshToken)

        let reply = try client.logout(LogoutRequest(), options: .bearer(user.tokens.token))
        XCTAssertEqual(reply.message, "Successfully logged out.")

        // Status with the revoked token: the tutorial's blacklist message.
        XCTAssertRPCError(try client.status(StatusRequest(), options: .bearer(user.tokens.token)),
                          .unauthenticated, "Token blacklisted. Please log in again.")
        XCTAssertRPCError(try client.logout(LogoutRequest(), options: .bearer(user.tokens.token)),
                          .unauthenticated, "Token blacklisted. Please log in again.")
        let validate = try client.validate(ValidateRequest(token: user.tokens.token))
        XCTAssertFalse(validate.valid)
        XCTAssertEqual(validate.refusal, .revoked)
        XCTAssertEqual(validate.message, "Token blacklisted. Please log in again.")
        // Only that token: the user's other session lives on.
        XCTAssertTrue(try client.validate(ValidateRequest(token: other.token)).valid)
        XCTAssertEqual(try client.status(StatusRequest(), options: .bearer(other.token)).userId, user.tokens.userId)
    }

    func testStatusWithAMalformedToken() throws {
        let client = try client()
        let user = try registerUser(client)
        var tampered = Array(user.tokens.token)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
        let parts = user.tokens.token.split(separator: ".")
        let foreignPayload = parts[0] + "." + Base64URLForTests.encode(#"{"sub":"1","iat":1,"exp":9999999999,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}"#) + "." + parts[2]
        for token in ["not-a-token", "a.b.c", String(tampered), String(foreignPayload), user.tokens.token + "x"] {
            XCTAssertRPCError(try client.status(StatusRequest(), options: .bearer(token)),
                              .unauthenticated, "Invalid token. Please log in again.")
            let validate = try client.validate(ValidateRequest(token: token))
            XCTAssertFalse(validate.valid)
            XCTAssertEqual(validate.refusal, .invalid)
            XCTAssertEqual(validate.message, "Invalid token. Please log in again.")
        }
        XCTAssertRPCError(try client.logout(LogoutRequest(), options: .bearer("not-a-token")),
                          .unauthenticated, "Invalid token. Please log in again.")
    }

    func testCallsWithoutAToken() throws {
        let client = try client()
        let missing = "Provide a valid auth token."
        XCTAssertRPCError(try client.status(StatusRequest()), .unauthenticated, missing)
        XCTAssertRPCError(try client.logout(LogoutRequest()), .unauthenticated, missing)
        XCTAssertRPCError(try client.revokeAll(RevokeAllRequest(userId: 1)), .unauthenticated, missing)
        for value in ["Bearer", "Bearer ", "Basic dXNlcjpwdw==", ""] {
            let options = CallOptions(metadata: ["authorization": value])
            XCTAssertRPCError(try client.status(StatusRequest(), options: options), .unauthenticated, missing)
        }
        let validate = try client.validate(ValidateRequest(token: ""))
        XCTAssertFalse(validate.valid)
        XCTAssertEqual(validate.refusal, .missing)
        XCTAssertEqual(validate.message, missing)
    }

    /// authd reads the usual ValidateRequest (one ASCII `token` field) in place; every other
    /// encoding takes the generated decoder and must be answered exactly as before.
    func testValidateRequestsOffTheUsualShape() throws {
        let client = try client()
        let user = try registerUser(client)
        let token = Array(user.tokens.token.utf8)
        func call(_ bytes: [UInt8]) throws -> ValidateReply {
            try ValidateReply(serializedBytes: try client.transport.unary(Auth.Method.validate, request: bytes, options: CallOptions()))
        }
        func field1(_ value: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [0x0A]
            var n = value.count
            while n >= 0x80 { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
            return out + [UInt8(n)] + value
        }
        XCTAssertTrue(try call(field1(token)).valid, "the usual shape")
        XCTAssertEqual(try call(field1(token)).userId, user.tokens.userId)
        XCTAssertEqual(try call([]).refusal, .missing, "no field: the empty token")
        XCTAssertTrue(try call(field1(Array("junk".utf8)) + field1(token)).valid, "a repeated field: the last one counts")
        XCTAssertEqual(try call(field1(token) + field1(Array("junk".utf8))).refusal, .invalid)
        XCTAssertTrue(try call(field1(token) + [0x20, 0x01]).valid, "an unknown field (4; 2 and 3 are required_scopes and audience) is skipped")
        XCTAssertEqual(try call(field1(Array("é.é.é".utf8))).refusal, .invalid, "valid UTF-8, not ASCII")
        XCTAssertRPCError(try call(field1([0x41, 0xFF, 0x41])), .invalidArgument)
        XCTAssertRPCError(try call([0x0A, 0x05, 0x41]), .invalidArgument)  // truncated
        XCTAssertRPCError(try call([0x0A]), .invalidArgument)
    }

    func testHealthIsServing() throws {
        let client = try client()
        XCTAssertEqual(try client.health(HealthRequest()).status, .serving)
        XCTAssertEqual(try client.health(HealthRequest(service: "auth.v1.Auth")).status, .serving)
        XCTAssertRPCError(try client.health(HealthRequest(service: "no.such.Service")), .notFound)
    }
}

/// base64url without padding, for hand-made tokens.
enum Base64URLForTests {
    static func encode(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
