import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// The account and session commands of authctl and `authd admin`, end to end: two authd
/// instances on one MariaDB database (a short revocation bound), tokens checked on the other one.
final class AccountCommandTests: XCTestCase {
    private let newPassword = "a brand new passphrase 77"

    func testAccountLifecycleThroughAuthctlOnTwoInstances() throws {
        let a = try AuthdProcess.start(arguments: ["--revocation-poll-ms", "200"])
        defer { a.stop() }
        let b = try AuthdProcess.start(arguments: ["--revocation-poll-ms", "200"], databaseName: a.database.database, secret: a.secret)
        defer { b.stop() }
        let onB = try b.connect()
        defer { onB.close() }
        let validator = Auth.Client(transport: onB)
        func refusal(_ token: String, within seconds: Double = 2) -> TokenRefusal? {
            var last: TokenRefusal?
            _ = waitUntil(timeout: .milliseconds(Int64(seconds * 1000)), poll: .milliseconds(50)) {
                last = (try? validator.validate(ValidateRequest(token: token))).map { $0.valid ? .none : $0.refusal }
                return last != TokenRefusal.none
            }
            return last
        }

        // An administrator, made by the operator commands.
        let adminEmail = AuthCtlHarness.email("root")
        let adminPassword = try createUser(adminEmail, on: a)
        XCTAssertEqual(try a.runSubcommand(["admin", "grant", adminEmail]).status, 0)
        let root = try AuthCtlHarness(authd: a)
        _ = try root.json(["login", "--email", adminEmail, "--password-stdin"], input: adminPassword + "\n")

        // A user with two sessions.
        let email = AuthCtlHarness.email("user")
        let ctl = try AuthCtlHarness(authd: a), other = try AuthCtlHarness(authd: a)
        XCTAssertEqual(try ctl.register(email).status, 0)
        _ = try other.json(["login", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        let sessions = try ctl.json(["sessions"])["sessions"] as? [[String: Any]] ?? []
        XCTAssertEqual(sessions.count, 2)
        XCTAssertEqual(sessions.filter { $0["current"] as? Bool == true }.count, 1)

        // Non-admins are refused every admin command.
        for command in [["admin", "users"], ["admin", "disable", adminEmail], ["admin", "enable", adminEmail], ["admin", "delete", adminEmail],
                        ["admin", "reset-password", adminEmail], ["admin", "audit"]] {
            let refused = try ctl.json(command, expectStatus: 1)
            XCTAssertEqual(AuthCtlHarness.error(refused).code, "PERMISSION_DENIED", command.joined(separator: " "))
        }

        // Revoke the other session; then change the password.
        let otherToken = try other.keptToken()
        let otherSid = try XCTUnwrap(sessions.first { $0["current"] as? Bool == false }?["sid"] as? String)
        _ = try ctl.json(["sessions", "revoke", otherSid])
        XCTAssertEqual(refusal(otherToken), .revoked, "the revoked session's token, on the other instance")
        let oldToken = try ctl.keptToken()
        _ = try ctl.json(["passwd", "--password-stdin"], input: AuthCtlHarness.password + "\n" + newPassword + "\n")
        XCTAssertEqual(refusal(oldToken), .revoked)
        XCTAssertEqual(refusal(try ctl.keptToken(), within: 0.3), TokenRefusal.none, "the caller's new token")
        let oldLogin = try other.json(["login", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n", expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(oldLogin).code, "UNAUTHENTICATED")

        // Disable, then enable.
        let beforeDisable = try ctl.keptToken()
        _ = try root.json(["admin", "disable", email])
        XCTAssertEqual(refusal(beforeDisable), .disabled)
        let login = try other.json(["login", "--email", email, "--password-stdin"], input: newPassword + "\n", expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(login).code, "PERMISSION_DENIED")
        XCTAssertEqual(AuthCtlHarness.error(login).message, "Account disabled. Contact an administrator.")
        let refresh = try ctl.json(["refresh"], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(refresh).code, "PERMISSION_DENIED")
        let users = try root.json(["admin", "users", "--email-prefix", String(email.prefix(12))])["users"] as? [[String: Any]] ?? []
        XCTAssertEqual(users.first?["disabled"] as? Bool, true)
        _ = try root.json(["admin", "enable", email])
        // A cut-off covers the whole second it was made in (tokens carry `iat` in seconds): a token
        // issued in the disable's second stays refused as DISABLED (docs/accounts.md). Log in after it.
        let next = (Date().timeIntervalSince1970.rounded(.down) + 1.05) - Date().timeIntervalSince1970
        Thread.sleep(forTimeInterval: max(0, next))
        _ = try ctl.json(["login", "--email", email, "--password-stdin"], input: newPassword + "\n")

        // A reset code: single use.
        let code = try XCTUnwrap(try root.json(["admin", "reset-password", email])["code"] as? String)
        _ = try other.json(["reset-password", "--email", email, "--code", code, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        let reused = try other.json(["reset-password", "--email", email, "--code", code, "--password-stdin"],
                                    input: newPassword + "\n", expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(reused).code, "UNAUTHENTICATED")
        XCTAssertEqual(refusal(try ctl.keptToken()), .revoked, "a reset ends every session")

        // Log out everywhere, then delete the account: the email is free again.
        _ = try ctl.json(["login", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        let everywhere = try ctl.json(["logout", "--all"])
        XCTAssertEqual(everywhere["sessions"] as? Int, 1)
        _ = try ctl.json(["login", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        _ = try ctl.json(["delete-account", "--password-stdin"], input: AuthCtlHarness.password + "\n")
        let audit = try root.json(["admin", "audit", "--kind", "account_deleted"])["events"] as? [[String: Any]] ?? []
        XCTAssertEqual(audit.first?["email"] as? String, "", "audit rows keep no email of a deleted user")
        XCTAssertEqual(try ctl.register(email).status, 0, "the email is free again")
        XCTAssertFalse(a.log.contains(code), "no reset code in the log")
    }

    func testClosedRegistration() throws {
        let authd = try AuthdProcess.start(arguments: ["--registration", "closed"])
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let refused = try ctl.json(["register", "--email", AuthCtlHarness.email("closed"), "--password-stdin"],
                                   input: AuthCtlHarness.password + "\n", expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(refused).code, "PERMISSION_DENIED")
        XCTAssertEqual(AuthCtlHarness.error(refused).message, "Registration is closed.")
        let email = AuthCtlHarness.email("made")
        let password = try createUser(email, on: authd)
        _ = try ctl.json(["login", "--email", email, "--password-stdin"], input: password + "\n")
    }

    /// `authd admin user create EMAIL`: the generated password it prints.
    private func createUser(_ email: String, on authd: AuthdProcess) throws -> String {
        let made = try authd.runSubcommand(["admin", "user", "create", email])
        XCTAssertEqual(made.status, 0, made.stderr)
        let line = try XCTUnwrap(made.stdout.split(separator: "\n").first { $0.hasPrefix("password: ") })
        return String(line.dropFirst("password: ".count))
    }
}
