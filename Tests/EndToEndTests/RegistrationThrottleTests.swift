import AuthAPI
import AuthClient
import AuthCore
import Foundation
import RPCCore
import TestSupport
import XCTest

/// The registration flood over the real server: 300 Registers of new emails from one address on
/// one connection. authd runs with the production registration limits (the test harness raises
/// them for every other test).
final class RegistrationThrottleTests: AuthdTestCase {
    override class var authdArguments: [String] {
        let bounds = AuthConfiguration.Bounds.self
        return ["--register-limit-per-address", "\(bounds.registerLimitPerAddress.default)",
                "--register-limit-global", "\(bounds.registerLimitGlobal.default)"]
    }

    func testRegistrationFloodFromOneAddressIsRefusedAfterTheLimit() throws {
        let client = try client()
        let password = uniquePassword()
        var created: [String] = [], refused: [String] = [], other: [String] = []
        for i in 0..<300 {
            let email = uniqueEmail("flood\(i)")
            do {
                let tokens = try client.register(RegisterRequest(email: email, password: password))
                remember(tokens.token, tokens.refreshToken)
                created.append(email)
            } catch let error as RPCError where error.code == .resourceExhausted {
                XCTAssertTrue(error.message.hasPrefix("Too many registrations. Try again in "), error.message)
                refused.append(email)
            } catch {
                other.append("\(error)")
            }
        }
        XCTAssertEqual(created.count, AuthConfiguration.Bounds.registerLimitPerAddress.default)
        XCTAssertEqual(refused.count, 300 - created.count)
        XCTAssertEqual(other, [])
        // A refused registration stored no user (the operator command finds none); an accepted one did.
        let authd = try server()
        let missing = try authd.runSubcommand(["admin", "grant", try XCTUnwrap(refused.last)])
        XCTAssertTrue(missing.stderr.contains("No such user."), missing.stderr)
        let present = try authd.runSubcommand(["admin", "grant", try XCTUnwrap(created.first)])
        XCTAssertEqual(present.status, 0, present.stderr)
        // Logins from the address are not affected.
        let login = try client.login(LoginRequest(email: try XCTUnwrap(created.first), password: password))
        remember(login.token, login.refreshToken)
    }
}
