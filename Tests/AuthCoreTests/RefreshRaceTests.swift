import AuthCore
import Foundation
import Support
import TestSupport
import XCTest

/// A refresh racing a logout or a RevokeAll never leaves a live refresh token, nor a valid access
/// token of the revoked session: many rounds of the two run at once, on every store (MariaDB is
/// the one where it matters: row locks, not one process lock).
final class RefreshRaceTests: StoreTestCase {
    func testRefreshRacingLogoutOrRevokeAllLeavesNothingLive() {
        forEachStore { fixture in
            let a = try fixture.core(), b = try fixture.core(shared: true)
            let rounds = 200, deadline = Date().addingTimeInterval(90)
            var done = 0
            let outcomes = Tally()
            for round in 0..<rounds where Date() < deadline {
                let t = try a.register(email: "race\(round)@example.com", password: "a long passphrase", clientAddress: nil)
                let logout = round % 2 == 0
                let refreshed = Locked<IssuedTokens?>(nil)
                Fixtures.concurrently(2, timeout: 30) { i in
                    if i == 0 {
                        do {
                            let r = try a.refresh(refreshToken: t.refreshToken, clientAddress: nil)
                            refreshed.withLock { $0 = r }
                            outcomes.add("refreshed")
                        } catch {
                            outcomes.add("refresh refused")
                        }
                    } else {
                        do {
                            if logout { try a.logout(token: t.accessToken) } else { try a.revokeAllTokens(userID: t.userID) }
                        } catch {
                            XCTFail("round \(round): \(error)")
                        }
                    }
                }
                try b.pollRevocations()
                let what = logout ? "logout" : "RevokeAll"
                XCTAssertEqual(b.validate(token: t.accessToken), .revoked, "round \(round), \(what)")
                XCTAssertNotNil(AuthError.code { _ = try a.refresh(refreshToken: t.refreshToken, clientAddress: nil) },
                                "round \(round): the presented refresh token is live after \(what)")
                if let r = refreshed.withLock({ $0 }) {
                    XCTAssertEqual(b.validate(token: r.accessToken), .revoked,
                                   "round \(round): the racing refresh's access token is valid after \(what)")
                    XCTAssertNotNil(AuthError.code { _ = try a.refresh(refreshToken: r.refreshToken, clientAddress: nil) },
                                    "round \(round): the racing refresh's refresh token is live after \(what)")
                }
                done += 1
            }
            XCTAssertGreaterThanOrEqual(done, 50, "too few rounds within the time bound")
            print("[\(fixture.kind.rawValue)] \(done) rounds: \(outcomes.all)")
        }
    }
}
