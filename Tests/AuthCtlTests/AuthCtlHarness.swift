import Foundation
import TestSupport
import XCTest

/// Runs the built `authctl` (`.build/debug/authctl`, refused when older than the sources; or
/// `AUTHCTL_BINARY`) against a test authd, with its own `XDG_CONFIG_HOME` so the credentials file lands in a temporary folder.
struct AuthCtlHarness {
    let authd: AuthdProcess
    let configHome: URL

    init(authd: AuthdProcess) throws {
        self.authd = authd
        configHome = try TestEnvironment.makeTemporaryDirectory("authctl-config")
    }

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["AUTHCTL_BINARY"] { return URL(fileURLWithPath: path) }
        return TestEnvironment.packageRoot.appendingPathComponent(".build/debug/authctl")
    }

    var credentialsPath: String { configHome.appendingPathComponent("authctl/credentials").path }

    /// The environment authctl runs with: server and CA of the test authd, the temporary config home.
    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHCTL_") }
        env["XDG_CONFIG_HOME"] = configHome.path
        env["AUTHCTL_SERVER"] = "\(authd.host):\(authd.port)"
        env["AUTHCTL_CA"] = authd.caFile
        return env
    }

    /// Runs authctl with `arguments`, `input` on standard input, and `extraEnvironment` added.
    /// `withoutServer`: AUTHCTL_SERVER unset (the default or the kept credentials' server applies).
    @discardableResult
    func run(_ arguments: [String], input: String? = nil, withoutServer: Bool = false,
             extraEnvironment: [String: String] = [:], timeout: TimeInterval = 30) throws -> ProcessResult {
        var env = environment.merging(extraEnvironment) { $1 }
        if withoutServer { env["AUTHCTL_SERVER"] = nil }
        let binary = try TestEnvironment.builtExecutable("authctl", override: "AUTHCTL_BINARY")
        return try ProcessRunner.run(binary, arguments, input: input.map { Data($0.utf8) }, environment: env,
                                     timeout: timeout)
    }

    /// Runs with `--json` and parses standard output as exactly one JSON object (one line).
    func json(_ arguments: [String], input: String? = nil, extraEnvironment: [String: String] = [:],
              expectStatus: Int32 = 0, timeout: TimeInterval = 30,
              file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try run(arguments + ["--json"], input: input, extraEnvironment: extraEnvironment, timeout: timeout)
        XCTAssertEqual(result.status, expectStatus, "authctl \(Self.redacted(arguments).joined(separator: " ")): \(result.stdout) \(result.stderr)",
                       file: file, line: line)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "exactly one line of JSON: \(result.stdout)", file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(object, "not a JSON object: \(result.stdout)", file: file, line: line)
    }

    /// `arguments` fit for a failure message: the value after `--token` and any JWT-shaped
    /// argument replaced, so no token reaches the test output.
    static func redacted(_ arguments: [String]) -> [String] {
        var out: [String] = []
        for (i, argument) in arguments.enumerated() {
            let isTokenValue = i > 0 && arguments[i - 1] == "--token"
            out.append(isTokenValue || argument.hasPrefix("eyJ") ? "<token>" : argument)
        }
        return out
    }

    /// Registers `email` through `--password-stdin` (text mode) and returns the result.
    @discardableResult
    func register(_ email: String, password: String = AuthCtlHarness.password) throws -> ProcessResult {
        try run(["register", "--email", email, "--password-stdin"], input: password + "\n")
    }

    /// The access token kept in the credentials file.
    func keptToken() throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: credentialsPath))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try XCTUnwrap(object?["token"] as? String)
    }

    static let password = "correct horse battery staple 42"

    /// A fresh address for one test.
    static func email(_ name: String) -> String { "\(name)-\(UInt32.random(in: 0...UInt32.max))@example.com" }

    /// The JSON error object every refusal prints.
    static func error(_ object: [String: Any]) -> (code: String?, message: String?) {
        let error = object["error"] as? [String: Any]
        return (error?["code"] as? String, error?["message"] as? String)
    }
}
