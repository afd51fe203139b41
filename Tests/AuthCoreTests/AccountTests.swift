@testable import AuthCore
import Foundation
import TestSupport
import XCTest

/// Accounts and sessions on every store: password change and reset, sessions listed and ended,
/// disabled and deleted users (seen by a second instance through the feed), closed registration,
/// paging, and administrator-only operations.
final class AccountTests: StoreTestCase {
    private let password = "a long passphrase"
    private let newPassword = "another long passphrase"

    private func admin(_ core: AuthCore, _ email: String = "root@example.com") throws -> String {
        _ = try core.register(email: email, password: password, clientAddress: nil)
        try core.setAdmin(email: email, admin: true)
        return try core.login(email: email, password: password, clientAddress: nil).accessToken
    }

    func testChangePasswordEndsOtherSessionsAndKeepsTheCaller() {
        forEachStore { fixture in
            let core = try fixture.core()
            let other = try fixture.core(shared: true)
            let first = try core.register(email: "ann@example.com", password: password, clientAddress: "10.0.0.1")
            let second = try core.login(email: "ann@example.com", password: password, clientAddress: "10.0.0.2")
            XCTAssertEqual(AuthError.code { _ = try core.changePassword(token: first.accessToken, current: "wrong password!",
                                                                          new: newPassword, clientAddress: nil) }, .wrongPassword)
            let fresh = try core.changePassword(token: first.accessToken, current: password, new: newPassword, clientAddress: "10.0.0.1")
            try other.pollRevocations()
            for c in [core, other] {
                XCTAssertEqual(c.validate(token: second.accessToken), .revoked)
                XCTAssertEqual(c.validate(token: first.accessToken), .revoked)
                XCTAssertNotNil(c.validate(token: fresh.accessToken).claimsOrNil)
            }
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: second.refreshToken, clientAddress: nil) }, .refreshInvalid)
            XCTAssertEqual(AuthError.code { _ = try core.login(email: "ann@example.com", password: password, clientAddress: nil) },
                           .invalidCredentials)
            _ = try core.login(email: "ann@example.com", password: newPassword, clientAddress: nil)
        }
    }

    func testSessionsAreListedAndEndedOneOrAll() {
        forEachStore { fixture in
            let core = try fixture.core()
            let a = try core.register(email: "bo@example.com", password: password, clientAddress: "10.0.0.1")
            fixture.clock.advance(2)
            let b = try core.login(email: "bo@example.com", password: password, clientAddress: "10.0.0.2")
            let listed = try core.sessions(token: b.accessToken)
            XCTAssertEqual(listed.count, 2)
            XCTAssertEqual(listed.filter(\.isCurrent).count, 1)
            XCTAssertEqual(listed.first?.isCurrent, true, "newest first")
            XCTAssertEqual(Set(listed.compactMap(\.session.clientAddress)), ["10.0.0.1", "10.0.0.2"])
            let sidA = try XCTUnwrap(listed.first { !$0.isCurrent }).session.id.description
            try core.revokeSession(token: b.accessToken, sid: sidA, clientAddress: nil)
            XCTAssertEqual(core.validate(token: a.accessToken), .revoked)
            XCTAssertNotNil(core.validate(token: b.accessToken).claimsOrNil)
            XCTAssertEqual(AuthError.code { try core.revokeSession(token: b.accessToken, sid: sidA, clientAddress: nil) }, .sessionNotFound)
            // Someone else's session is not found either.
            let c = try core.register(email: "cy@example.com", password: password, clientAddress: nil)
            let sidB = try XCTUnwrap(try core.sessions(token: b.accessToken).first).session.id.description
            XCTAssertEqual(AuthError.code { try core.revokeSession(token: c.accessToken, sid: sidB, clientAddress: nil) }, .sessionNotFound)
            _ = try core.login(email: "bo@example.com", password: password, clientAddress: nil)
            XCTAssertEqual(try core.logoutAll(token: b.accessToken, clientAddress: nil), 2)
            XCTAssertEqual(core.validate(token: b.accessToken), .revoked)
            XCTAssertNotNil(core.validate(token: c.accessToken).claimsOrNil, "another user's session stays")
        }
    }

    func testDisabledUserIsRefusedEverywhereUntilEnabled() {
        forEachStore { fixture in
            let core = try fixture.core()
            let other = try fixture.core(shared: true)
            let root = try admin(core)
            let t = try core.register(email: "dee@example.com", password: password, clientAddress: nil)
            try core.setDisabled(email: "dee@example.com", disabled: true, authority: .token(root))
            try other.pollRevocations()
            for c in [core, other] {
                XCTAssertEqual(c.validate(token: t.accessToken), .disabled)
                XCTAssertEqual(AuthError.code { _ = try c.login(email: "dee@example.com", password: password, clientAddress: nil) },
                               .accountDisabled)
            }
            XCTAssertEqual(AuthError.code { _ = try other.refresh(refreshToken: t.refreshToken, clientAddress: nil) }, .accountDisabled)
            XCTAssertTrue(try core.users(emailPrefix: "dee", pageToken: "", pageSize: 0, authority: .token(root)).items[0].isDisabled)
            fixture.clock.advance(1)
            try other.setDisabled(email: "dee@example.com", disabled: false, authority: .operatorCommand)
            let again = try core.login(email: "dee@example.com", password: password, clientAddress: nil)
            XCTAssertNotNil(core.validate(token: again.accessToken).claimsOrNil)
            XCTAssertEqual(core.validate(token: t.accessToken), .disabled, "tokens from before the disable stay refused")
        }
    }

    func testDeletionFreesTheEmailAndKeepsAuditRowsWithoutIt() {
        forEachStore { fixture in
            let core = try fixture.core()
            let root = try admin(core)
            let t = try core.register(email: "eve@example.com", password: password, clientAddress: nil)
            XCTAssertEqual(AuthError.code { try core.deleteAccount(token: t.accessToken, password: "not the password", clientAddress: nil) },
                           .wrongPassword)
            try core.deleteAccount(token: t.accessToken, password: password, clientAddress: "10.0.0.9")
            XCTAssertEqual(core.validate(token: t.accessToken), .revoked)
            let rows = try core.store.auditEvents(AuditQuery(userID: t.userID, limit: 50)).map(\.event)
            XCTAssertTrue(rows.contains { $0.kind == .register })
            XCTAssertTrue(rows.contains { $0.kind == .accountDeleted })
            XCTAssertTrue(rows.allSatisfy { $0.email == nil }, "no email left in a deleted user's audit rows")
            let again = try core.register(email: "eve@example.com", password: password, clientAddress: nil)
            XCTAssertNotEqual(again.userID, t.userID)
            try core.setRole(email: "eve@example.com", role: "auditor", granted: true, authority: .token(root))
            try core.deleteUser(email: "eve@example.com", authority: .token(root))
            XCTAssertEqual(AuthError.code { try core.deleteUser(email: "eve@example.com", authority: .token(root)) }, .userNotFound)
            XCTAssertEqual(try core.serviceStore().roles(userID: again.userID), [], "a deleted user's roles go with it")
        }
    }

    func testResetCodeIsSingleUseExpiresAndWrongCodesAreThrottled() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.throttle.pairLimit = 3
            let core = try fixture.core(configuration)
            let root = try admin(core)
            let t = try core.register(email: "fay@example.com", password: password, clientAddress: nil)
            let code = try core.issueResetCode(email: "fay@example.com", authority: .token(root))
            XCTAssertGreaterThanOrEqual(code.code.utf8.count, 22, "at least 128 bits")
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "fay@example.com", code: "wrong", newPassword: newPassword,
                                                                 clientAddress: "10.1.1.1") }, .resetCodeInvalid)
            try core.resetPassword(email: "fay@example.com", code: code.code, newPassword: newPassword, clientAddress: "10.1.1.2")
            XCTAssertEqual(core.validate(token: t.accessToken), .revoked, "a reset ends every session")
            _ = try core.login(email: "fay@example.com", password: newPassword, clientAddress: nil)
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "fay@example.com", code: code.code, newPassword: password,
                                                                 clientAddress: "10.1.1.2") }, .resetCodeInvalid, "single use")
            let late = try core.issueResetCode(email: "fay@example.com", authority: .operatorCommand)
            fixture.clock.advance(15 * 60 + 1)
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "fay@example.com", code: late.code, newPassword: password,
                                                                 clientAddress: "10.1.1.3") }, .resetCodeInvalid, "expired")
            let fresh = try core.issueResetCode(email: "fay@example.com", authority: .operatorCommand)
            for _ in 0..<3 {
                _ = AuthError.code { try core.resetPassword(email: "fay@example.com", code: "guess", newPassword: password, clientAddress: "10.2.2.2") }
            }
            XCTAssertEqual(AuthError.code { try core.resetPassword(email: "fay@example.com", code: fresh.code, newPassword: password,
                                                                 clientAddress: "10.2.2.2") }, .resetThrottled)
        }
    }

    func testClosedRegistrationAndAdminCreatedAccounts() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.registration = .closed
            let core = try fixture.core(configuration)
            XCTAssertEqual(AuthError.code { _ = try core.register(email: "gil@example.com", password: password, clientAddress: nil) },
                           .registrationClosed)
            _ = try core.createUser(email: "root@example.com", password: password, authority: .operatorCommand)
            try core.setAdmin(email: "root@example.com", admin: true)
            let root = try core.login(email: "root@example.com", password: password, clientAddress: nil).accessToken
            _ = try core.createUser(email: "gil@example.com", password: password, authority: .token(root))
            XCTAssertEqual(AuthError.code { _ = try core.createUser(email: "gil@example.com", password: password, authority: .token(root)) },
                           .emailTaken)
            _ = try core.login(email: "gil@example.com", password: password, clientAddress: nil)
        }
    }

    func testUsersAndAuditEventsArePaged() {
        forEachStore { fixture in
            let core = try fixture.core()
            let root = try admin(core)
            for i in 0..<7 { _ = try core.register(email: "page\(i)@example.com", password: password, clientAddress: nil) }
            var seen: [String] = [], token = ""
            repeat {
                let page = try core.users(emailPrefix: "PAGE", pageToken: token, pageSize: 3, authority: .token(root))
                XCTAssertLessThanOrEqual(page.items.count, 3)
                seen += page.items.map(\.email)
                token = page.nextPageToken ?? ""
            } while !token.isEmpty
            XCTAssertEqual(seen, (0..<7).map { "page\($0)@example.com" })
            XCTAssertEqual(AuthError.code { _ = try core.users(emailPrefix: "", pageToken: "", pageSize: 501, authority: .token(root)) },
                           .invalidRequest)
            var kinds: [AuditEvent] = []
            token = ""
            repeat {
                let page = try core.auditEvents(email: "", userID: 0, kind: "register", since: nil, pageToken: token, pageSize: 2,
                                                authority: .token(root))
                kinds += page.items
                token = page.nextPageToken ?? ""
            } while !token.isEmpty
            XCTAssertEqual(kinds.count, 8)
            XCTAssertTrue(kinds.allSatisfy { $0.kind == .register })
            XCTAssertEqual(kinds.first?.email, "page6@example.com", "newest first")
        }
    }

    func testNonAdminsAreRefusedEveryAdminOperation() {
        forEachStore { fixture in
            let core = try fixture.core()
            let t = try core.register(email: "hal@example.com", password: password, clientAddress: nil).accessToken
            let me = Authority.token(t)
            let denied: [(String, () throws -> Void)] = [
                ("users", { _ = try core.users(emailPrefix: "", pageToken: "", pageSize: 0, authority: me) }),
                ("disable", { try core.setDisabled(email: "hal@example.com", disabled: true, authority: me) }),
                ("enable", { try core.setDisabled(email: "hal@example.com", disabled: false, authority: me) }),
                ("delete", { try core.deleteUser(email: "hal@example.com", authority: me) }),
                ("reset code", { _ = try core.issueResetCode(email: "hal@example.com", authority: me) }),
                ("audit", { _ = try core.auditEvents(email: "", userID: 0, kind: "", since: nil, pageToken: "", pageSize: 0, authority: me) }),
                ("create", { _ = try core.createUser(email: "ivy@example.com", password: self.password, authority: me) }),
            ]
            for (name, call) in denied { XCTAssertEqual(AuthError.code(of: call), .notAdmin, name) }
        }
    }
}

extension ValidationResult {
    var claimsOrNil: AccessClaims? { if case .valid(let c) = self { c } else { nil } }
}
