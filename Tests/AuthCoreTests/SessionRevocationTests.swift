@testable import AuthCore
import Foundation
import TestSupport
import XCTest

/// Sessions (refresh-token families, named by the `sid` of their access tokens): logout and
/// RevokeAll as one write each, reuse revoking the whole session, the absolute session lifetime,
/// cut-offs that refresh tokens honour, and withdrawn administrator rights. On every store.
final class SessionRevocationTests: StoreTestCase {
    private let password = "a long passphrase"

    // MARK: One write each

    /// A store that fails after the first write of a logout leaves all or nothing revoked.
    func testLogoutIsOneWrite() {
        run(on: .inMemory) { fixture in  // the failure injection is the in-memory store's
            let store = try fixture.makeStore() as! InMemoryAuthStore
            let core = try Fixtures.core(store, clock: fixture.clock)
            let t = try core.register(email: "mia@example.com", password: password, clientAddress: nil)
            store.failingAfterCalls.withLock { $0 = 1 }
            let outcome = AuthError.code { try core.logout(token: t.accessToken) }
            store.failingAfterCalls.withLock { $0 = nil }
            let b = try Fixtures.core(store, clock: fixture.clock)
            try b.pollRevocations()
            let accessRevoked = b.validate(token: t.accessToken) == .revoked
            let refreshDead = AuthError.code { _ = try b.refresh(refreshToken: t.refreshToken, clientAddress: nil) } != nil
            XCTAssertEqual(accessRevoked, refreshDead, "logout half done (outcome \(String(describing: outcome)))")
            XCTAssertTrue(accessRevoked && refreshDead)
        }
    }

    func testRevokeAllIsOneWrite() {
        run(on: .inMemory) { fixture in
            let store = try fixture.makeStore() as! InMemoryAuthStore
            let core = try Fixtures.core(store, clock: fixture.clock)
            let t = try core.register(email: "ned@example.com", password: password, clientAddress: nil)
            store.failingAfterCalls.withLock { $0 = 2 }
            let outcome = AuthError.code { try core.revokeAllTokens(userID: t.userID) }
            store.failingAfterCalls.withLock { $0 = nil }
            let b = try Fixtures.core(store, clock: fixture.clock)
            try b.pollRevocations()
            let accessRevoked = b.validate(token: t.accessToken) == .revoked
            let refreshDead = AuthError.code { _ = try b.refresh(refreshToken: t.refreshToken, clientAddress: nil) } != nil
            XCTAssertEqual(accessRevoked, refreshDead, "RevokeAll half done (outcome \(String(describing: outcome)))")
            XCTAssertTrue(accessRevoked && refreshDead)
        }
    }

    // MARK: Sessions

    /// Logout ends the session: every access token of it, not only the one presented.
    func testLogoutRevokesEveryAccessTokenOfTheSession() {
        forEachStore { fixture in
            let a = try fixture.core(), b = try fixture.core(shared: true)
            let first = try a.register(email: "ola@example.com", password: password, clientAddress: nil)
            fixture.clock.advance(2)
            let second = try a.refresh(refreshToken: first.refreshToken, clientAddress: nil)
            let elsewhere = try a.login(email: "ola@example.com", password: password, clientAddress: nil)
            try a.logout(token: second.accessToken)
            try b.pollRevocations()
            for core in [a, b] {
                XCTAssertEqual(core.validate(token: second.accessToken), .revoked)
                XCTAssertEqual(core.validate(token: first.accessToken), .revoked, "an earlier token of the session")
                XCTAssertNotNil(try? core.validate(token: elsewhere.accessToken).claims(), "another session is untouched")
            }
            XCTAssertEqual(AuthError.code { _ = try a.refresh(refreshToken: second.refreshToken, clientAddress: nil) }, .refreshInvalid)
        }
    }

    /// A refresh token presented twice revokes the whole session, its access tokens included, on
    /// every instance.
    func testRefreshReuseRevokesTheSessionsAccessTokens() {
        forEachStore { fixture in
            let a = try fixture.core(), b = try fixture.core(shared: true)
            let first = try a.register(email: "pia@example.com", password: password, clientAddress: nil)
            fixture.clock.advance(2)
            let second = try a.refresh(refreshToken: first.refreshToken, clientAddress: nil)
            let other = try a.login(email: "pia@example.com", password: password, clientAddress: nil)
            XCTAssertEqual(AuthError.code { _ = try a.refresh(refreshToken: first.refreshToken, clientAddress: nil) }, .refreshReused)
            try b.pollRevocations()
            for core in [a, b] {
                XCTAssertEqual(core.validate(token: first.accessToken), .revoked)
                XCTAssertEqual(core.validate(token: second.accessToken), .revoked)
                XCTAssertNotNil(try? core.validate(token: other.accessToken).claims(), "another session is untouched")
            }
            XCTAssertEqual(AuthError.code { _ = try a.refresh(refreshToken: second.refreshToken, clientAddress: nil) }, .refreshInvalid)
        }
    }

    /// Rotation never extends a session past `sessionMaxAge` from its login.
    func testASessionHasAnAbsoluteLifetime() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.refreshTokenLifetime = .seconds(10 * 86_400)
            configuration.sessionMaxAge = .seconds(30 * 86_400)
            let core = try fixture.core(configuration)
            let started = fixture.clock.now
            var tokens = try core.register(email: "quinn@example.com", password: password, clientAddress: nil)
            let end = started.addingTimeInterval(30 * 86_400)
            var rotations = 0
            while rotations < 10 {
                XCTAssertLessThanOrEqual(tokens.refreshTokenExpiresAt, end, "a refresh token outliving its session")
                fixture.clock.advance(8 * 86_400)
                guard let next = try? core.refresh(refreshToken: tokens.refreshToken, clientAddress: nil) else { break }
                tokens = next
                rotations += 1
            }
            XCTAssertEqual(rotations, 3, "rotated at days 8, 16 and 24; refused at day 32")
            XCTAssertGreaterThan(fixture.clock.now, end)
        }
    }

    // MARK: Cut-offs

    /// A refresh token issued at or before its user's cut-off is refused (RevokeAll deletes them,
    /// but one written by a racing rotation must not survive it).
    func testRefreshTokensIssuedBeforeTheCutoffAreRefused() {
        forEachStore { fixture in
            let store = try fixture.makeStore()
            let core = try Fixtures.core(store, clock: fixture.clock)
            let t = try core.register(email: "rex@example.com", password: password, clientAddress: nil)
            fixture.clock.advance(1)
            try core.revokeAllTokens(userID: t.userID)
            // A refresh token as a rotation racing RevokeAll would have written it.
            let raw = [UInt8](repeating: 7, count: 32)
            let at = fixture.clock.now.addingTimeInterval(-0.5)
            let claims = try core.validate(token: t.accessToken)
            XCTAssertEqual(claims, .revoked)
            try store.insertRefreshToken(RefreshTokenRecord(hash: Digest.sha256(raw), family: TokenID.random(), userID: t.userID,
                                                            issuedAt: at, expiresAt: at.addingTimeInterval(86_400)))
            fixture.clock.advance(1)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: Base64URL.encode(raw), clientAddress: nil) }, .refreshInvalid)
            // Logging in again afterwards works, and so does refreshing that session.
            let fresh = try core.login(email: "rex@example.com", password: password, clientAddress: nil)
            fixture.clock.advance(1)
            XCTAssertNoThrow(try core.refresh(refreshToken: fresh.refreshToken, clientAddress: nil))
        }
    }

    /// Withdrawing administrator rights revokes every token that says `adm`, on every instance
    /// within the revocation bound; the user's other tokens and a refresh stay good.
    func testWithdrawnAdminRightsRevokeAdminTokens() {
        forEachStore { fixture in
            let a = try fixture.core(), b = try fixture.core(shared: true)
            let plain = try a.register(email: "sam@example.com", password: password, clientAddress: nil)
            try a.setAdmin(email: "sam@example.com", admin: true)
            fixture.clock.advance(1)
            let admin = try a.login(email: "sam@example.com", password: password, clientAddress: nil)
            try b.pollRevocations()
            XCTAssertEqual(try b.validate(token: admin.accessToken).claims().isAdmin, true)
            fixture.clock.advance(1)
            try a.setAdmin(email: "sam@example.com", admin: false)
            try b.pollRevocations()
            for core in [a, b] {
                XCTAssertEqual(core.validate(token: admin.accessToken), .revoked, "a token still saying adm")
                XCTAssertEqual(try core.validate(token: plain.accessToken).claims().isAdmin, false, "a token without adm stays valid")
            }
            fixture.clock.advance(1)
            let refreshed = try a.refresh(refreshToken: admin.refreshToken, clientAddress: nil)
            XCTAssertEqual(try b.validate(token: refreshed.accessToken).claims().isAdmin, false)
        }
    }
}
