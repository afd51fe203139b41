@testable import AuthCore
import XCTest

/// The configuration's defaults and the ranges `validated()` enforces come from
/// `AuthConfiguration.Bounds` (which authd's settings table reads too), and its times are `Duration`s.
final class AuthConfigurationTests: XCTestCase {
    private func plain() -> AuthConfiguration {
        AuthConfiguration(signingKeys: ["k1": Fixtures.key1], activeKeyID: "k1")
    }

    func testDefaultsAreTheBoundsDefaultsAndPass() throws {
        let c = try plain().validated()
        XCTAssertEqual(c.accessTokenLifetime, AuthConfiguration.Bounds.accessTokenLifetime.default)
        XCTAssertEqual(c.accessTokenLifetime, .seconds(900))
        XCTAssertEqual(c.refreshTokenLifetime, .seconds(14 * 86_400))
        XCTAssertEqual(c.leeway, .seconds(30))
        XCTAssertEqual(c.revocationPollInterval, .milliseconds(500), "the bound a logout takes to reach every instance")
        XCTAssertEqual(c.revocationPollInterval, AuthConfiguration.Bounds.revocationPollInterval.default)
        XCTAssertEqual(c.passwordHashing, .owasp)
    }

    func testValidatedRefusesValuesOutsideTheBounds() {
        func refused(_ change: (inout AuthConfiguration) -> Void, mentions text: String, line: UInt = #line) {
            var c = plain()
            change(&c)
            XCTAssertThrowsError(try c.validated(), line: line) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)", line: line)
            }
        }
        refused({ $0.revocationPollInterval = .seconds(2) }, mentions: "revocationPollInterval must be within")
        refused({ $0.revocationPollInterval = .milliseconds(5) }, mentions: "revocationPollInterval must be within")
        refused({ $0.accessTokenLifetime = .zero }, mentions: "accessTokenLifetime must be within")
        refused({ $0.refreshTokenLifetime = .seconds(59) }, mentions: "refreshTokenLifetime must be within")
        refused({ $0.leeway = .seconds(-1) }, mentions: "leeway must be within")
        refused({ $0.passwordHashingConcurrency = 0 }, mentions: "passwordHashingConcurrency must be within")
        refused({ $0.passwordHashing.iterations = Argon2Parameters.iterationsRange.upperBound + 1 }, mentions: "argon2 iterations must be within 1...64")
        refused({ $0.passwordHashing.memoryKiB = 4 }, mentions: "argon2 memory (KiB) must be within 8...4194304")
        refused({ $0.throttle.pairWindow = .zero }, mentions: "throttle limits and windows must be positive")

        // The ends of each range are accepted.
        var c = plain()
        c.revocationPollInterval = AuthConfiguration.Bounds.revocationPollInterval.range.upperBound
        c.accessTokenLifetime = AuthConfiguration.Bounds.accessTokenLifetime.range.lowerBound
        c.leeway = .zero
        c.passwordHashing.iterations = Argon2Parameters.iterationsRange.upperBound
        XCTAssertNoThrow(try c.validated())
    }
}
