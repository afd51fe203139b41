import AuthCore
import Foundation
import TestSupport
import XCTest

/// The behaviour of the core. Every test runs on the in-memory store and on the private MariaDB
/// (`forEachStore`), each in a fresh store with a fresh clock.
final class AuthBehaviourTests: StoreTestCase {
    // MARK: Register, login, status

    func testRegisterThenLoginThenStatus() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "  Alice@Example.COM ", password: "a long passphrase", clientAddress: "10.0.0.1")
            guard case .valid(let claims) = core.validate(token: issued.accessToken) else { return XCTFail("fresh token not valid") }
            XCTAssertEqual(claims.userID, issued.userID)
            XCTAssertEqual(claims.expiresAt - claims.issuedAt, 15 * 60)
            let info = try core.status(token: issued.accessToken)
            XCTAssertEqual(info.email, "Alice@Example.COM")
            XCTAssertFalse(info.isAdmin)
            XCTAssertEqual(info.registeredAt.timeIntervalSince1970, fixture.clock.now.timeIntervalSince1970, accuracy: 0.001)

            let again = try core.login(email: "alice@example.com", password: "a long passphrase", clientAddress: "10.0.0.2")
            XCTAssertEqual(again.userID, issued.userID)
            XCTAssertNotEqual(again.accessToken, issued.accessToken)
            XCTAssertEqual(try core.status(token: again.accessToken).userID, issued.userID)
        }
    }

    func testEmailIsUniqueWithoutRegardToCase() {
        forEachStore { fixture in
            let core = try fixture.core()
            _ = try core.register(email: "bob@example.com", password: "a long passphrase", clientAddress: nil)
            do throws(AuthError) {
                _ = try core.register(email: " BOB@Example.com", password: "another passphrase", clientAddress: nil)
                XCTFail("duplicate registered")
            } catch {
                XCTAssertEqual(error.code, .emailTaken)
                XCTAssertEqual(error.message, "User already exists. Please log in.")
            }
        }
    }

    func testEmailAndPasswordRules() {
        forEachStore { fixture in
            let core = try fixture.core()
            for bad in ["", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com", ".a@b.com", "a..b@c.com",
                        "a@-b.com", "a@b..com", String(repeating: "x", count: 65) + "@b.com", "a@" + String(repeating: "b", count: 250) + ".com",
                        "é@example.com", "a@b.123"] {
                XCTAssertEqual(AuthError.code { _ = try core.register(email: bad, password: "a long passphrase", clientAddress: nil) },
                               .invalidEmail, bad)
            }
            func rejection(_ pw: String) -> PasswordRejection? {
                do { _ = try core.register(email: "p\(UUID().uuidString.prefix(6))@example.com", password: pw, clientAddress: nil); return nil } catch {
                    guard case .weakPassword(let r) = error else { XCTFail("\(error)"); return nil }
                    return r
                }
            }
            XCTAssertEqual(rejection("short12"), .tooShort(minimum: 8))
            XCTAssertEqual(rejection(String(repeating: "x", count: 1025)), .tooLong(maximum: 1024))
            XCTAssertEqual(rejection("password"), .common)
            XCTAssertEqual(rejection("PassWord1"), .common)
            XCTAssertEqual(rejection("12345678"), .common)
            XCTAssertNil(rejection(String(repeating: "é", count: 1024)))  // 1,024 characters, 2,048 bytes
            XCTAssertNil(rejection("eight ch"))
        }
    }

    func testUnknownEmailAndWrongPasswordAreTheSameError() {
        forEachStore { fixture in
            let core = try fixture.core()
            _ = try core.register(email: "carol@example.com", password: "a long passphrase", clientAddress: nil)
            var errors: [AuthError] = []
            for (email, pw) in [("carol@example.com", "wrong passphrase"), ("nobody@example.com", "a long passphrase"), ("not an email", "x")] {
                do throws(AuthError) { _ = try core.login(email: email, password: pw, clientAddress: "10.0.0.9"); XCTFail("logged in") } catch { errors.append(error) }
            }
            XCTAssertEqual(errors.map(\.code), [.invalidCredentials, .invalidCredentials, .invalidCredentials])
            XCTAssertEqual(Set(errors.map(\.message)), ["Invalid email or password."])
        }
    }

    // MARK: Logout, refresh, revoke-all

    func testLogoutRevokesTheTokenAndItsSession() {
        forEachStore { fixture in
            let core = try fixture.core()
            let t = try core.register(email: "dan@example.com", password: "a long passphrase", clientAddress: nil)
            let other = try core.login(email: "dan@example.com", password: "a long passphrase", clientAddress: nil)
            try core.logout(token: t.accessToken)
            XCTAssertEqual(core.validate(token: t.accessToken), .revoked)
            XCTAssertEqual(AuthError.code { _ = try core.status(token: t.accessToken) }, .tokenRevoked)
            XCTAssertEqual(AuthError.code { try core.logout(token: t.accessToken) }, .tokenRevoked)
            XCTAssertEqual(core.validate(token: t.accessToken).error?.message, "Token blacklisted. Please log in again.")
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: t.refreshToken, clientAddress: nil) }, .refreshInvalid)
            // Another session of the same user is untouched.
            XCTAssertEqual(try core.status(token: other.accessToken).email, "dan@example.com")
            _ = try core.refresh(refreshToken: other.refreshToken, clientAddress: nil)
        }
    }

    func testRefreshRotatesAndReuseRevokesTheFamily() {
        forEachStore { fixture in
            let core = try fixture.core()
            let first = try core.register(email: "erin@example.com", password: "a long passphrase", clientAddress: nil)
            fixture.clock.advance(60)
            let second = try core.refresh(refreshToken: first.refreshToken, clientAddress: "10.1.1.1")
            XCTAssertNotEqual(second.refreshToken, first.refreshToken)
            XCTAssertEqual(second.userID, first.userID)
            guard case .valid(let claims) = core.validate(token: second.accessToken) else { return XCTFail("refreshed token invalid") }
            XCTAssertEqual(claims.issuedAt, Int64(fixture.clock.now.timeIntervalSince1970))
            let third = try core.refresh(refreshToken: second.refreshToken, clientAddress: nil)
            // The first one again: reuse. The whole family dies, including the newest.
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: first.refreshToken, clientAddress: nil) }, .refreshReused)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: third.refreshToken, clientAddress: nil) }, .refreshInvalid)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: "garbage", clientAddress: nil) }, .refreshInvalid)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: String(repeating: "A", count: 43), clientAddress: nil) }, .refreshInvalid)
            let kinds = try core.store.auditEvents(userID: first.userID, limit: 20).map(\.kind)
            XCTAssertTrue(kinds.contains(.refreshReuse), "\(kinds)")
        }
    }

    func testRefreshTokenExpires() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.refreshTokenLifetime = .seconds(3600)
            let core = try fixture.core(configuration)
            let t = try core.register(email: "exp@example.com", password: "a long passphrase", clientAddress: nil)
            fixture.clock.advance(3601)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: t.refreshToken, clientAddress: nil) }, .refreshInvalid)
        }
    }

    func testRevokeAllNeedsAnAdminAndRevokesEverything() {
        forEachStore { fixture in
            let core = try fixture.core()
            let admin = try core.register(email: "root@example.com", password: "a long passphrase", clientAddress: nil)
            let user = try core.register(email: "frank@example.com", password: "a long passphrase", clientAddress: nil)
            let user2 = try core.login(email: "frank@example.com", password: "a long passphrase", clientAddress: nil)
            XCTAssertEqual(AuthError.code { try core.revokeAll(userID: user.userID, by: admin.accessToken) }, .notAdmin)
            try core.setAdmin(email: "ROOT@example.com", admin: true)
            XCTAssertEqual(AuthError.code { try core.setAdmin(email: "ghost@example.com", admin: true) }, .userNotFound)
            XCTAssertTrue(try core.requireAdmin(token: admin.accessToken).isAdmin)
            fixture.clock.advance(2)
            try core.revokeAll(userID: user.userID, by: admin.accessToken)
            XCTAssertEqual(core.validate(token: user.accessToken), .revoked)
            XCTAssertEqual(core.validate(token: user2.accessToken), .revoked)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: user2.refreshToken, clientAddress: nil) }, .refreshInvalid)
            XCTAssertEqual(AuthError.code { try core.revokeAllTokens(userID: 999_999) }, .userNotFound)
            // The admin's own token is untouched, and the user can log in again (a later second).
            XCTAssertNoThrow(try core.requireAdmin(token: admin.accessToken))
            fixture.clock.advance(1)
            let fresh = try core.login(email: "frank@example.com", password: "a long passphrase", clientAddress: nil)
            XCTAssertNotNil(try? core.validate(token: fresh.accessToken).claims())
        }
    }

    // MARK: Revocation across instances

    func testRevocationsAreFollowedByAnotherInstance() {
        forEachStore { fixture in
            let a = try fixture.core(), b = try fixture.core(shared: true)
            try a.start(); defer { a.stop() }
            let t = try a.register(email: "gina@example.com", password: "a long passphrase", clientAddress: nil)
            let u = try a.register(email: "hal@example.com", password: "a long passphrase", clientAddress: nil)
            try b.pollRevocations()
            XCTAssertNotNil(try? b.validate(token: t.accessToken).claims())
            try a.logout(token: t.accessToken)
            fixture.clock.advance(1)
            try a.revokeAllTokens(userID: u.userID)
            XCTAssertNotNil(try? b.validate(token: t.accessToken).claims(), "b has not polled yet")
            try b.pollRevocations()
            XCTAssertEqual(b.validate(token: t.accessToken), .revoked)
            XCTAssertEqual(b.validate(token: u.accessToken), .revoked)
            // A third instance starting later loads them at start.
            let c = try fixture.core(shared: true)
            try c.start(); c.stop()
            XCTAssertEqual(c.validate(token: t.accessToken), .revoked)
            XCTAssertEqual(c.validate(token: u.accessToken), .revoked)
        }
    }

    func testExpiredRevocationsLeaveMemoryAndStore() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.purgeInterval = .zero
            let core = try fixture.core(configuration)
            let t = try core.register(email: "ivy@example.com", password: "a long passphrase", clientAddress: nil)
            try core.logout(token: t.accessToken)
            try core.pollRevocations()
            XCTAssertEqual(core.revocationCounts.tokens, 1)
            fixture.clock.advance(15 * 60 + 10)
            XCTAssertEqual(core.validate(token: t.accessToken), .expired)
            try core.pollRevocations()
            XCTAssertEqual(core.revocationCounts.tokens, 0)
            let fresh = try Fixtures.core(try fixture.makeStore(shared: true), clock: fixture.clock)
            try fresh.pollRevocations()
            XCTAssertEqual(fresh.revocationCounts.tokens, 0)
        }
    }

    // MARK: Password hashing

    func testHashWithOlderParametersIsUpgradedAtLogin() {
        forEachStore { fixture in
            let old = try fixture.core()
            let t = try old.register(email: "jay@example.com", password: "a long passphrase", clientAddress: nil)
            XCTAssertTrue(try XCTUnwrap(old.store.user(id: t.userID)).passwordHash.hasPrefix("$argon2id$v=19$m=64,t=1,p=1$"))
            let newer = try fixture.core(Fixtures.configuration(hashing: Argon2Parameters(memoryKiB: 128, iterations: 2)), shared: true)
            XCTAssertThrowsError(try newer.login(email: "jay@example.com", password: "wrong passphrase", clientAddress: nil))
            XCTAssertTrue(try XCTUnwrap(newer.store.user(id: t.userID)).passwordHash.hasPrefix("$argon2id$v=19$m=64,t=1,p=1$"))
            _ = try newer.login(email: "jay@example.com", password: "a long passphrase", clientAddress: nil)
            let hash = try XCTUnwrap(newer.store.user(id: t.userID)).passwordHash
            XCTAssertTrue(hash.hasPrefix("$argon2id$v=19$m=128,t=2,p=1$"), hash)
            _ = try newer.login(email: "jay@example.com", password: "a long passphrase", clientAddress: nil)
        }
    }

    // MARK: Throttling

    func testFailuresPerAccountAreThrottledAndTheKnownAddressStillGetsIn() {
        forEachStore { fixture in
            var policy = ThrottlePolicy()
            policy.accountLimit = 5
            policy.pairLimit = 3
            let core = try fixture.core(Fixtures.configuration(throttle: policy))
            _ = try core.register(email: "kim@example.com", password: "a long passphrase", clientAddress: nil)
            _ = try core.login(email: "kim@example.com", password: "a long passphrase", clientAddress: "192.0.2.1")  // known address
            // Attackers from five addresses, one guess each, then a sixth address.
            for i in 0..<5 {
                XCTAssertEqual(AuthError.code { _ = try core.login(email: "kim@example.com", password: "guess \(i) xx", clientAddress: "198.51.100.\(i)") },
                               .invalidCredentials)
            }
            do throws(AuthError) {
                _ = try core.login(email: "kim@example.com", password: "a long passphrase", clientAddress: "198.51.100.77")
                XCTFail("not throttled")
            } catch {
                guard case .throttled(let after) = error else { return XCTFail("\(error)") }
                XCTAssertGreaterThan(after, 3500)
                XCTAssertLessThanOrEqual(after, 3600)
            }
            // The real user, from an address where they logged in before, is not locked out.
            _ = try core.login(email: "kim@example.com", password: "a long passphrase", clientAddress: "192.0.2.1")
            // Unknown emails are throttled the same way (no existence oracle).
            for i in 0..<5 {
                XCTAssertEqual(AuthError.code { _ = try core.login(email: "nobody@example.com", password: "guess \(i) xx", clientAddress: "203.0.113.\(i)") },
                               .invalidCredentials)
            }
            XCTAssertEqual(AuthError.code { _ = try core.login(email: "nobody@example.com", password: "guess", clientAddress: "203.0.113.9") }, .throttled)
            // The window slides: an hour later guesses are counted again from zero.
            fixture.clock.advance(3601)
            _ = try core.login(email: "kim@example.com", password: "a long passphrase", clientAddress: "198.51.100.77")
        }
    }

    func testFailuresPerAddressAreThrottled() {
        forEachStore { fixture in
            var policy = ThrottlePolicy()
            policy.addressLimit = 4
            let core = try fixture.core(Fixtures.configuration(throttle: policy))
            for i in 0..<4 {
                XCTAssertEqual(AuthError.code { _ = try core.login(email: "u\(i)@example.com", password: "guess guess", clientAddress: "198.51.100.1") },
                               .invalidCredentials)
            }
            XCTAssertEqual(AuthError.code { _ = try core.login(email: "u9@example.com", password: "guess guess", clientAddress: "198.51.100.1") }, .throttled)
            XCTAssertEqual(AuthError.code { _ = try core.login(email: "u9@example.com", password: "guess guess", clientAddress: "198.51.100.2") },
                           .invalidCredentials)
        }
    }

    func testConcurrentWrongPasswordsNeverPassTheLimit() {
        forEachStore { fixture in
            var policy = ThrottlePolicy()
            policy.accountLimit = 7
            let core = try fixture.core(Fixtures.configuration(throttle: policy))
            _ = try core.register(email: "leo@example.com", password: "a long passphrase", clientAddress: nil)
            let tally = Tally()
            Fixtures.concurrently(40) { i in
                do {
                    _ = try core.login(email: "leo@example.com", password: "wrong \(i) guess", clientAddress: "198.18.0.\(i)")
                    tally.add("success")
                } catch { tally.add((error as? AuthError)?.code.rawValue ?? "other") }
            }
            XCTAssertEqual(tally["invalidCredentials"], 7, "\(tally.all)")
            XCTAssertEqual(tally["throttled"], 33, "\(tally.all)")
        }
    }

    // MARK: Concurrency

    func testConcurrentRegistrationsOfOneEmailOnlyOneSucceeds() {
        forEachStore { fixture in
            let core = try fixture.core()
            let tally = Tally()
            Fixtures.concurrently(100) { i in
                do {
                    _ = try core.register(email: i % 2 == 0 ? "mia@example.com" : "MIA@example.com", password: "passphrase \(i)", clientAddress: nil)
                    tally.add("ok")
                } catch { tally.add((error as? AuthError)?.code.rawValue ?? "other") }
            }
            XCTAssertEqual(tally["ok"], 1, "\(tally.all)")
            XCTAssertEqual(tally["emailTaken"], 99, "\(tally.all)")
        }
    }

    // MARK: Audit

    func testAuditTrailRecordsEventsWithoutSecrets() {
        forEachStore { fixture in
            let core = try fixture.core()
            let t = try core.register(email: "nia@example.com", password: "secret passphrase 1", clientAddress: "10.9.9.9")
            _ = try? core.login(email: "nia@example.com", password: "secret passphrase 2", clientAddress: "10.9.9.9")
            let t2 = try core.login(email: "nia@example.com", password: "secret passphrase 1", clientAddress: "10.9.9.9")
            let t3 = try core.refresh(refreshToken: t2.refreshToken, clientAddress: "10.9.9.9")
            try core.logout(token: t.accessToken)
            _ = try? core.refresh(refreshToken: t2.refreshToken, clientAddress: nil)
            try core.revokeAllTokens(userID: t.userID)
            let events = try core.store.auditEvents(userID: t.userID, limit: 50)
            XCTAssertEqual(Set(events.map(\.kind)), [.register, .loginFailed, .loginSucceeded, .refresh, .logout, .refreshReuse, .revokeAll])
            let text = events.map { "\($0)" }.joined()
            for secret in ["secret passphrase", t.accessToken, t.refreshToken, t2.refreshToken, t3.refreshToken, "$argon2id"] {
                XCTAssertFalse(text.contains(secret))
            }
            XCTAssertEqual(events.first { $0.kind == .loginFailed }?.clientAddress, "10.9.9.9")
        }
    }
}
