import Foundation
import TestSupport
import XCTest

/// Tokens that stay off the command line: `--token-file FILE`, `AUTHCTL_TOKEN`
/// (`AUTHCTL_REFRESH_TOKEN` for refresh) and `-` for standard input, for every command that takes a
/// token, against a real authd. No token may appear in authctl's output or errors, nor in these
/// tests' failure messages.
final class TokenInputTests: XCTestCase {
    nonisolated(unsafe) static var authd: AuthdProcess?

    override class func setUp() {
        authd = try? AuthdProcess.start()
    }

    override class func tearDown() {
        authd?.stop()
        authd = nil
    }

    /// A registered user: the harness keeping their credentials, and their tokens.
    private struct User {
        var ctl: AuthCtlHarness
        var email: String
        var userID: Int
        var token: String
        var refreshToken: String
    }

    private func harness() throws -> AuthCtlHarness {
        let authd = try XCTUnwrap(Self.authd, "authd did not start (is the private MariaDB running?)")
        return try AuthCtlHarness(authd: authd)
    }

    private func register(_ name: String) throws -> User {
        let ctl = try harness()
        let email = AuthCtlHarness.email(name)
        let result = try ctl.run(["register", "--email", email, "--password-stdin", "--json"], input: AuthCtlHarness.password + "\n")
        XCTAssertEqual(result.status, 0, "register: \(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return User(ctl: ctl, email: email, userID: try XCTUnwrap(object?["user_id"] as? Int),
                    token: try XCTUnwrap(object?["token"] as? String),
                    refreshToken: try XCTUnwrap(object?["refresh_token"] as? String))
    }

    /// Writes `contents` to a new file of `mode` in the harness's temporary folder.
    private func tokenFile(_ ctl: AuthCtlHarness, _ contents: String, mode: Int = 0o600, name: String = "token") throws -> String {
        let path = ctl.configHome.appendingPathComponent("\(name)-\(UInt32.random(in: 0...UInt32.max))").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8),
                                                     attributes: [.posixPermissions: mode]))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)  // past the umask
        return path
    }

    /// Runs authctl, checks its exit status and that none of `secrets` reached its output or errors;
    /// failure messages show the output with the secrets masked. Returns standard output.
    @discardableResult
    private func expect(_ ctl: AuthCtlHarness, _ arguments: [String], status: Int32, input: String? = nil,
                        environment: [String: String] = [:], secrets: [String],
                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try ctl.run(arguments, input: input, extraEnvironment: environment)
        let masked = { (text: String) in secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "<token>") } }
        let shown = "authctl \(AuthCtlHarness.redacted(arguments).joined(separator: " ")): \(masked(result.stdout)) \(masked(result.stderr))"
        XCTAssertEqual(result.status, status, shown, file: file, line: line)
        for secret in secrets {
            XCTAssertFalse(result.stdout.contains(secret) || result.stderr.contains(secret), "a token in the output: \(shown)",
                           file: file, line: line)
        }
        return result.stdout
    }

    private func object(_ stdout: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "not one JSON object")
    }

    func testATokenFileReachesTheServerForEveryCommand() throws {
        let alice = try register("file")
        let ctl = try harness()  // no kept credentials: only the file can carry the token
        let secrets = [alice.token, alice.refreshToken]
        let file = try tokenFile(ctl, alice.token + "\n")  // the trailing newline is trimmed

        let status = try object(try expect(ctl, ["status", "--token-file", file, "--json"], status: 0, secrets: secrets))
        XCTAssertEqual(status["email"] as? String, alice.email)
        let valid = try object(try expect(ctl, ["validate", "--token-file", file, "--json"], status: 0, secrets: secrets))
        XCTAssertEqual(valid["user_id"] as? Int, alice.userID)
        try expect(ctl, ["validate", "--token-file", file], status: 0, secrets: secrets)
        // Not an administrator: refused for that, so the token did reach the server.
        let denied = try object(try expect(ctl, ["revoke-all", "--user-id", "1", "--token-file", file, "--json"], status: 1,
                                           secrets: secrets))
        XCTAssertEqual(AuthCtlHarness.error(denied).code, "PERMISSION_DENIED")

        let refreshFile = try tokenFile(ctl, alice.refreshToken + "\r\n", name: "refresh")
        let refreshed = try expect(ctl, ["refresh", "--token-file", refreshFile], status: 0, secrets: secrets)
        XCTAssertTrue(refreshed.hasPrefix("Refreshed as user \(alice.userID)"), refreshed)
        let newToken = try ctl.keptToken()
        XCTAssertNotEqual(newToken, alice.token)

        // Logout with a file leaves the kept credentials alone; the token is revoked.
        try expect(ctl, ["logout", "--token-file", file], status: 0, secrets: secrets + [newToken])
        XCTAssertTrue(FileManager.default.fileExists(atPath: ctl.credentialsPath))
        let refused = try expect(ctl, ["validate", "--token-file", file, "--json"], status: 1, secrets: secrets + [newToken])
        XCTAssertEqual(AuthCtlHarness.error(try object(refused)).message, "Token blacklisted. Please log in again.")
        let text = try ctl.run(["status", "--token-file", file])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stderr.hasPrefix("authctl: UNAUTHENTICATED: "), text.stderr.replacingOccurrences(of: alice.token, with: "<token>"))
        XCTAssertFalse(text.stderr.contains(alice.token) || text.stdout.contains(alice.token))
    }

    func testTheEnvironmentCarriesTheToken() throws {
        let bob = try register("env")
        let ctl = try harness()
        let secrets = [bob.token, bob.refreshToken]
        let status = try object(try expect(ctl, ["status", "--json"], status: 0, environment: ["AUTHCTL_TOKEN": bob.token],
                                           secrets: secrets))
        XCTAssertEqual(status["email"] as? String, bob.email)
        let valid = try object(try expect(ctl, ["validate", "--json"], status: 0, environment: ["AUTHCTL_TOKEN": bob.token],
                                          secrets: secrets))
        XCTAssertEqual(valid["user_id"] as? Int, bob.userID)
        // AUTHCTL_TOKEN is an access token: refresh takes AUTHCTL_REFRESH_TOKEN, never AUTHCTL_TOKEN.
        let wrongKind = try expect(ctl, ["refresh", "--json"], status: 2, environment: ["AUTHCTL_TOKEN": bob.token], secrets: secrets)
        XCTAssertEqual(AuthCtlHarness.error(try object(wrongKind)).code, "USAGE")
        let refreshed = try object(try expect(ctl, ["refresh", "--json"], status: 0,
                                              environment: ["AUTHCTL_REFRESH_TOKEN": bob.refreshToken], secrets: secrets))
        XCTAssertEqual(refreshed["user_id"] as? Int, bob.userID)
        try expect(ctl, ["logout"], status: 0, environment: ["AUTHCTL_TOKEN": bob.token], secrets: secrets)
        XCTAssertTrue(FileManager.default.fileExists(atPath: ctl.credentialsPath), "logout with AUTHCTL_TOKEN keeps the kept credentials")
        try expect(ctl, ["validate"], status: 1, environment: ["AUTHCTL_TOKEN": bob.token], secrets: secrets)
    }

    func testADashReadsStandardInput() throws {
        let carol = try register("stdin")
        let ctl = try harness()
        let secrets = [carol.token, carol.refreshToken]
        for arguments in [["status", "--token", "-"], ["status", "--token-file", "-"]] {
            let status = try object(try expect(ctl, arguments + ["--json"], status: 0, input: carol.token + "\n", secrets: secrets))
            XCTAssertEqual(status["email"] as? String, carol.email, "\(arguments)")
        }
        for arguments in [["validate", "-"], ["validate", "--token-file", "-"]] {
            let valid = try object(try expect(ctl, arguments + ["--json"], status: 0, input: carol.token + "\n", secrets: secrets))
            XCTAssertEqual(valid["user_id"] as? Int, carol.userID, "\(arguments)")
        }
        let refreshed = try object(try expect(ctl, ["refresh", "--token-file", "-", "--json"], status: 0,
                                              input: carol.refreshToken + "\n", secrets: secrets))
        XCTAssertEqual(refreshed["user_id"] as? Int, carol.userID)
        try expect(ctl, ["logout", "--token-file", "-"], status: 0, input: carol.token + "\n", secrets: secrets)
        try expect(ctl, ["validate", "-"], status: 1, input: carol.token, secrets: secrets)
        // Nothing on standard input is a usage error.
        for arguments in [["status", "--token-file", "-"], ["validate", "-"], ["status", "--token", "-"]] {
            try expect(ctl, arguments, status: 2, input: "", secrets: secrets)
            try expect(ctl, arguments, status: 2, input: "\n", secrets: secrets)
        }
    }

    /// The token given on the command line (or validate's argument) > --token-file (the two not
    /// together) > AUTHCTL_TOKEN > the kept credentials.
    func testPrecedence() throws {
        let dave = try register("kept")
        let erin = try register("other")
        let secrets = [dave.token, dave.refreshToken, erin.token, erin.refreshToken]
        let ctl = dave.ctl  // keeps dave's credentials
        func email(_ arguments: [String], environment: [String: String] = [:]) throws -> String? {
            try object(try expect(ctl, arguments + ["--json"], status: 0, environment: environment, secrets: secrets))["email"] as? String
        }
        XCTAssertEqual(try email(["status"]), dave.email)
        XCTAssertEqual(try email(["status"], environment: ["AUTHCTL_TOKEN": erin.token]), erin.email, "environment over kept")
        let daveFile = try tokenFile(ctl, dave.token)
        XCTAssertEqual(try email(["status", "--token-file", daveFile], environment: ["AUTHCTL_TOKEN": erin.token]), dave.email,
                       "file over environment")
        XCTAssertEqual(try email(["status", "--token", dave.token], environment: ["AUTHCTL_TOKEN": erin.token]), dave.email,
                       "flag over environment")
        let valid = try object(try expect(ctl, ["validate", erin.token, "--json"], status: 0,
                                          environment: ["AUTHCTL_TOKEN": dave.token], secrets: secrets))
        XCTAssertEqual(valid["user_id"] as? Int, erin.userID, "argument over environment")
        // An empty AUTHCTL_TOKEN is unset, as every other AUTHCTL_ variable.
        XCTAssertEqual(try email(["status"], environment: ["AUTHCTL_TOKEN": ""]), dave.email)
        // Both on the command line: ambiguous, refused.
        for arguments in [["status", "--token", erin.token, "--token-file", daveFile],
                          ["validate", erin.token, "--token-file", daveFile]] {
            let both = try expect(ctl, arguments + ["--json"], status: 2, secrets: secrets)
            XCTAssertEqual(AuthCtlHarness.error(try object(both)).code, "USAGE")
        }
        // validate never falls back to the kept credentials.
        try expect(ctl, ["validate"], status: 2, secrets: secrets)
    }

    func testBadTokenFilesAreRefusedWithoutShowingTheToken() throws {
        let frank = try register("bad")
        let ctl = try harness()
        let secrets = [frank.token, frank.refreshToken]
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let file = try tokenFile(ctl, frank.token + "\n", mode: mode)
            for command in [["status"], ["validate"], ["logout"], ["refresh"], ["revoke-all", "--user-id", "1"]] {
                let out = try expect(ctl, command + ["--token-file", file, "--json"], status: 2, secrets: secrets)
                let message = AuthCtlHarness.error(try object(out)).message ?? ""
                XCTAssertTrue(message.contains("chmod 600") && message.contains(file), "\(command) mode \(String(mode, radix: 8)): \(message)")
            }
            let text = try ctl.run(["status", "--token-file", file])
            XCTAssertEqual(text.status, 2)
            XCTAssertTrue(text.stderr.contains("readable by other users"), text.stderr)
        }
        let missing = ctl.configHome.appendingPathComponent("no-such-token").path
        try expect(ctl, ["status", "--token-file", missing], status: 2, secrets: secrets)
        let large = try tokenFile(ctl, String(repeating: "A", count: 70 * 1024))
        try expect(ctl, ["validate", "--token-file", large], status: 2, secrets: secrets)
        for contents in ["", "\n", "  \r\n", frank.token + "\n" + frank.refreshToken + "\n", frank.token + " x"] {
            let file = try tokenFile(ctl, contents)
            let out = try expect(ctl, ["validate", "--token-file", file, "--json"], status: 2, secrets: secrets)
            XCTAssertEqual(AuthCtlHarness.error(try object(out)).code, "USAGE")
            try expect(ctl, ["status", "--token-file", file], status: 2, secrets: secrets)
        }
        // Standard input with more than one token is refused too.
        try expect(ctl, ["status", "--token-file", "-"], status: 2, input: frank.token + "\nsecond\n", secrets: secrets)
    }

    func testHelpSaysACommandLineTokenIsVisibleAndOffersTheAlternatives() throws {
        let ctl = try harness()
        for command in ["validate", "status", "logout", "refresh", "revoke-all"] {
            let help = try ctl.run([command, "--help"])
            XCTAssertEqual(help.status, 0, command)
            let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            XCTAssertTrue(text.contains("visible to other local users"), "\(command) --help: \(help.stdout)")
            XCTAssertTrue(text.contains("--token-file"), "\(command) --help")
            XCTAssertTrue(text.contains(command == "refresh" ? "AUTHCTL_REFRESH_TOKEN" : "AUTHCTL_TOKEN"), "\(command) --help")
        }
        // bench's --token-file is a file of many tokens, and says so.
        let bench = try ctl.run(["bench", "--help"])
        XCTAssertTrue(bench.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("one a line"), bench.stdout)
    }
}
