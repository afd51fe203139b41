import Foundation
import TestSupport
import XCTest

/// The options every command takes, before or after the subcommand; profiles (`authctl config`)
/// switching servers with a session each; `--version`, completion, and the early password check.
final class GlobalOptionsTests: XCTestCase {
    /// authctl with `arguments` and no AUTHCTL_* variable but `extra`: only flags and profiles say
    /// where the server is.
    private func run(_ ctl: AuthCtlHarness, _ arguments: [String], input: String? = nil,
                     extra: [String: String] = [:]) throws -> ProcessResult {
        var environment = ctl.environment.filter { !$0.key.hasPrefix("AUTHCTL_") }
        environment.merge(extra) { $1 }
        return try ProcessRunner.run(try TestEnvironment.builtExecutable("authctl", override: "AUTHCTL_BINARY"), arguments,
                                     input: input.map { Data($0.utf8) }, environment: environment, timeout: 30)
    }

    private func object(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(object, "not one JSON object: \(result.stdout) \(result.stderr)", file: file, line: line)
    }

    func testOptionsBeforeOrAfterTheSubcommand() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let server = "\(authd.host):\(authd.port)"
        let email = AuthCtlHarness.email("global")
        for arguments in [
            ["--server", server, "--ca", authd.caFile, "--timeout", "5", "--json", "health"],
            ["health", "--server", server, "--ca", authd.caFile, "--timeout", "5", "--json"],
            ["--server=\(server)", "--json", "health", "--ca", authd.caFile],
        ] {
            let result = try run(ctl, arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stdout) \(result.stderr)")
            XCTAssertEqual(try object(result)["status"] as? String, "SERVING", "\(arguments)")
        }
        // A command's own options and arguments keep their place after the moved global ones.
        let registered = try run(ctl, ["--server", server, "--ca", authd.caFile, "--json", "register", "--email", email,
                                       "--password-stdin"], input: AuthCtlHarness.password + "\n")
        XCTAssertEqual(registered.status, 0, registered.stderr)
        let status = try run(ctl, ["--json", "--server", server, "status", "--ca", authd.caFile])
        XCTAssertEqual(try object(status)["email"] as? String, email)
        // Before the subcommand they mean the same as after it: a wrong server fails to connect (3),
        // not to parse (2).
        let refused = try run(ctl, ["--server", "127.0.0.1:1", "--ca", authd.caFile, "--timeout", "2", "health"])
        XCTAssertEqual(refused.status, 3, refused.stderr)
        // A command without connection options still refuses them, wherever they are.
        XCTAssertEqual(try run(ctl, ["--server", server, "config", "list"]).status, 2)
        XCTAssertEqual(try run(ctl, ["config", "list", "--server", server]).status, 2)
    }

    func testProfilesSwitchServersAndKeepTheirOwnCredentials() throws {
        let dev = try AuthdProcess.start()
        defer { dev.stop() }
        let prod = try AuthdProcess.start()
        defer { prod.stop() }
        let ctl = try AuthCtlHarness(authd: dev)
        let folder = ctl.configHome.appendingPathComponent("authctl")

        XCTAssertEqual(try run(ctl, ["config", "set", "dev", "--server", "\(dev.host):\(dev.port)", "--ca", dev.caFile]).status, 0)
        XCTAssertEqual(try run(ctl, ["config", "set", "prod", "--server", "\(prod.host):\(prod.port)", "--ca", prod.caFile]).status, 0)
        let list = try object(try run(ctl, ["--json", "config", "list"]))
        XCTAssertEqual(list["current"] as? String, "dev", "the first profile made is the one in use")
        XCTAssertEqual((list["profiles"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["dev", "prod"])

        // One account on each server, each session kept by its profile.
        let devEmail = AuthCtlHarness.email("dev"), prodEmail = AuthCtlHarness.email("prod")
        let inDev = try run(ctl, ["register", "--email", devEmail, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        XCTAssertEqual(inDev.status, 0, inDev.stderr)
        let inProd = try run(ctl, ["--profile", "prod", "register", "--email", prodEmail, "--password-stdin"],
                             input: AuthCtlHarness.password + "\n")
        XCTAssertEqual(inProd.status, 0, inProd.stderr)
        for name in ["dev", "prod"] {
            let path = folder.appendingPathComponent("credentials.d/\(name)").path
            let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            XCTAssertEqual(mode & 0o777, 0o600, path)
        }
        let configMode = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("config.json").path)[.posixPermissions] as? Int
        XCTAssertEqual((configMode ?? 0) & 0o777, 0o600)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("credentials").path))

        func who(_ arguments: [String], extra: [String: String] = [:]) throws -> String? {
            let result = try run(ctl, arguments + ["status", "--json"], extra: extra)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stdout) \(result.stderr)")
            return try object(result)["email"] as? String
        }
        XCTAssertEqual(try who([]), devEmail)
        XCTAssertEqual(try who(["--profile", "prod"]), prodEmail)
        XCTAssertEqual(try who([], extra: ["AUTHCTL_PROFILE": "prod"]), prodEmail)
        XCTAssertEqual(try run(ctl, ["config", "use", "prod"]).status, 0)
        XCTAssertEqual(try who([]), prodEmail)
        // prod's token is unknown to dev (another secret): the profile really chose the server.
        let mixed = try run(ctl, ["status", "--server", "\(dev.host):\(dev.port)", "--ca", dev.caFile])
        XCTAssertEqual(mixed.status, 1, mixed.stderr)
        // Logging out of prod leaves the dev session alone.
        XCTAssertEqual(try run(ctl, ["logout"]).status, 0)
        XCTAssertEqual(try run(ctl, ["status"]).status, 2, "prod has no session any more")
        XCTAssertEqual(try who(["--profile", "dev"]), devEmail)

        // Precedence: flags over environment over profile.
        let environmentWins = try run(ctl, ["--profile", "dev", "health", "--timeout", "2"],
                                      extra: ["AUTHCTL_SERVER": "127.0.0.1:1"])
        XCTAssertEqual(environmentWins.status, 3, environmentWins.stderr)
        let flagWins = try run(ctl, ["--profile", "dev", "--server", "\(dev.host):\(dev.port)", "health"],
                               extra: ["AUTHCTL_SERVER": "127.0.0.1:1"])
        XCTAssertEqual(flagWins.status, 0, flagWins.stderr)

        let unknown = try run(ctl, ["--profile", "staging", "health"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("no profile \"staging\""), unknown.stderr)
        XCTAssertEqual(try run(ctl, ["config", "set", "../x", "--server", "127.0.0.1:1"]).status, 2)
        XCTAssertEqual(try run(ctl, ["config", "remove", "dev"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("credentials.d/dev").path))
    }

    /// The release authctl reports is the Python package's (clients/python/authrpc/_version.py).
    func testVersionIsThePythonPackagesVersion() throws {
        let result = try ProcessRunner.run(try TestEnvironment.builtExecutable("authctl", override: "AUTHCTL_BINARY"),
                                           ["--version"], timeout: 30)
        XCTAssertEqual(result.status, 0)
        let file = TestEnvironment.packageRoot.appendingPathComponent("clients/python/authrpc/_version.py")
        let text = try String(contentsOf: file, encoding: .utf8)
        XCTAssertTrue(text.contains("__version__ = \"\(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))\""),
                      "authctl --version \(result.stdout) differs from \(text)")
    }

    func testCompletionScripts() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try ProcessRunner.run(try TestEnvironment.builtExecutable("authctl", override: "AUTHCTL_BINARY"),
                                               ["--generate-completion-script", shell], timeout: 30)
            XCTAssertEqual(result.status, 0, shell)
            XCTAssertTrue(result.stdout.contains("config") && result.stdout.contains("--profile"), shell)
        }
    }

    /// A too-short password is refused after the first prompt, before the second.
    func testShortPasswordIsRefusedBeforeTheSecondPrompt() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let python = (try? TestEnvironment.python()) ?? URL(fileURLWithPath: "/usr/bin/python3")
        let result = try ProcessRunner.run(python, ["-c", TerminalTests.ptyScript, AuthCtlHarness.binary.path, "short7!",
                                                    "Password: ", "register", "--email", AuthCtlHarness.email("short")],
                                           environment: ctl.environment)
        XCTAssertEqual(result.status, 2, result.stdout)
        XCTAssertTrue(result.stdout.contains("too short: at least 8 characters"), result.stdout)
        XCTAssertFalse(result.stdout.contains("again"), result.stdout)
        let piped = try ctl.run(["register", "--email", AuthCtlHarness.email("short"), "--password-stdin"], input: "short7!\n")
        XCTAssertEqual(piped.status, 2, piped.stderr)
    }
}
