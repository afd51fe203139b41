@testable import AuthCore
import Foundation
import TestSupport
import XCTest

/// A reset code is checked before the new password is hashed: a wrong, expired or unknown code
/// (or an unknown email) costs no argon2id, so guessing codes cannot be used to burn the server's CPU.
final class ResetCodeCostTests: StoreTestCase {
    private let password = "a long passphrase"
    private let newPassword = "another long passphrase"

    func testOnlyTheRightCodeCostsAHash() {
        forEachStore { fixture in
            let core = try fixture.core()
            _ = try core.register(email: "gil@example.com", password: password, clientAddress: nil)
            let code = try core.issueResetCode(email: "gil@example.com", authority: .operatorCommand)
            let before = core.hasher.argon2Runs
            let sameLength = (code.code.first == "A" ? "B" : "A") + code.code.dropFirst()
            for (wrong, address) in [("wrong", "10.3.0.1"), (sameLength, "10.3.0.2"), ("", "10.3.0.3")] {
                XCTAssertEqual(AuthError.code { try core.resetPassword(email: "gil@example.com", code: wrong, newPassword: newPassword,
                                                                     clientAddress: address) }, .resetCodeInvalid)
            }
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "nobody@example.com", code: code.code,
                                                                 newPassword: newPassword, clientAddress: "10.3.0.4") }, .resetCodeInvalid)
            XCTAssertEqual(core.hasher.argon2Runs, before, "a wrong code or an unknown email costs no argon2id")

            try core.resetPassword(email: "gil@example.com", code: code.code, newPassword: newPassword, clientAddress: "10.3.0.5")
            XCTAssertEqual(core.hasher.argon2Runs, before + 1, "the right code costs the new password's hash")
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "gil@example.com", code: code.code, newPassword: password,
                                                                 clientAddress: "10.3.0.5") }, .resetCodeInvalid, "used up")

            let late = try core.issueResetCode(email: "gil@example.com", authority: .operatorCommand)
            fixture.clock.advance(core.configuration.resetCodeLifetime.timeInterval + 1)
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "gil@example.com", code: late.code, newPassword: password,
                                                                 clientAddress: "10.3.0.6") }, .resetCodeInvalid, "expired")
            XCTAssertEqual(core.hasher.argon2Runs, before + 1, "a used or expired code costs no argon2id")
            _ = try core.login(email: "gil@example.com", password: newPassword, clientAddress: nil)
        }
    }
}
