import AuthAPI
import AuthClient
import Foundation
import RPCCore
import RPCTransport
import TestSupport
import XCTest

/// A test class whose tests share one real `authd` (started once per class with
/// `authdArguments`, over TLS, on its own database of the private MariaDB).
///
/// Every password, token, refresh token and the signing secret a test uses is remembered
/// (`remember`), and after each test the server's log is searched for all of them: authd must
/// never log a secret.
class AuthdTestCase: XCTestCase {
    /// Extra `authd` flags for this class's server.
    class var authdArguments: [String] { [] }

    // Touched only from XCTest's (serial) class and instance set-up and tear-down and the test bodies.
    nonisolated(unsafe) private static var servers: [ObjectIdentifier: Result<AuthdProcess, any Error>] = [:]
    nonisolated(unsafe) private static var secrets: [ObjectIdentifier: Set<String>] = [:]

    override class func setUp() {
        super.setUp()
        servers[ObjectIdentifier(self)] = Result { try AuthdProcess.start(arguments: authdArguments) }
    }

    override class func tearDown() {
        if case .success(let authd) = servers.removeValue(forKey: ObjectIdentifier(self)) {
            let status = authd.stop()
            if status != 0 { print("authd exited with status \(status):\n\(authd.log(tail: 20))") }
        }
        secrets.removeValue(forKey: ObjectIdentifier(self))
        super.tearDown()
    }

    override func tearDownWithError() throws {
        if let authd = try? server() {
            remember(authd.secret)
            assertNoSecrets(in: authd.log, Self.secrets[ObjectIdentifier(type(of: self))] ?? [])
        }
        try super.tearDownWithError()
    }

    /// This class's server.
    func server() throws -> AuthdProcess {
        guard let result = Self.servers[ObjectIdentifier(type(of: self))] else { throw TestSetupError("no authd for \(Self.self)") }
        return try result.get()
    }

    /// A new connection and client to this class's server; the connection closes at the test's end.
    func client() throws -> Auth.Client {
        let connection = try server().connect()
        addTeardownBlock { connection.close() }
        return Auth.Client(transport: connection)
    }

    /// Notes a secret the server must never log.
    func remember(_ values: String...) {
        Self.secrets[ObjectIdentifier(type(of: self)), default: []].formUnion(values.filter { !$0.isEmpty })
    }

    /// Registers a new user with a fresh email and password; remembers the secrets.
    func registerUser(_ client: Auth.Client, prefix: String = "user") throws -> (email: String, password: String, tokens: TokenReply) {
        let email = uniqueEmail(prefix)
        let password = uniquePassword()
        let tokens = try client.register(RegisterRequest(email: email, password: password))
        remember(tokens.token, tokens.refreshToken)
        return (email, password, tokens)
    }

    func uniquePassword() -> String {
        let password = "pw-\(UUID().uuidString.lowercased())"
        remember(password)
        return password
    }
}

/// A fresh address nobody registered.
func uniqueEmail(_ prefix: String = "user") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())@example.com"
}

/// Fails unless `body` throws an `RPCError` with `code` (and `message`, when given).
@discardableResult
func XCTAssertRPCError<T>(_ body: @autoclosure () throws -> T, _ code: StatusCode, _ message: String? = nil,
                          file: StaticString = #filePath, line: UInt = #line) -> RPCError? {
    do {
        let value = try body()
        XCTFail("expected \(code.name), got \(value)", file: file, line: line)
        return nil
    } catch let error as RPCError {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        if let message { XCTAssertEqual(error.message, message, file: file, line: line) }
        return error
    } catch {
        XCTFail("expected RPCError \(code.name), got \(error)", file: file, line: line)
        return nil
    }
}

/// Fails if `log` contains any of `secrets` (or, for tokens, their signature part on its own).
func assertNoSecrets(in log: String, _ secrets: Set<String>, file: StaticString = #filePath, line: UInt = #line) {
    for secret in secrets {
        var needles = [secret]
        let parts = secret.split(separator: ".")
        if parts.count == 3 { needles.append(String(parts[2])) }  // a JWT's signature alone
        for needle in needles where needle.count >= 8 && log.contains(needle) {
            XCTFail("the server's log contains a secret (\(needle.prefix(6))…)", file: file, line: line)
        }
    }
}

/// Seconds since the epoch, now.
func epochNow() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// Sleeps until the wall clock has passed the whole second `second` (revoke-all cut-offs are whole seconds).
func sleepUntilAfter(second: Int64) {
    let target = TimeInterval(second) + 1.02
    let wait = target - Date().timeIntervalSince1970
    if wait > 0 { Thread.sleep(forTimeInterval: min(wait, 2.5)) }
}
