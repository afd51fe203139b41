import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// A key-set authd signing EdDSA tokens: PyJWT with `cryptography` verifies them with only the JWK
/// Set from `Keys` (clients/python/tests/test_offline_verify.py), and authd itself refuses the
/// forgeries (changed payload, HS256 with the public key as the secret) that Python makes.
final class OfflineVerificationTests: XCTestCase {
    func testPyJWTVerifiesAuthdTokensWithOnlyTheJWKS() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let kek = try KeySetTestFiles.encryptionKeyFile()
        let authd = try AuthdProcess.start(arguments: ["--key-encryption-key-file", kek, "--jwt-alg", "EdDSA"])
        defer { authd.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHD_KEYS_ADDRESS"] = "\(authd.host):\(authd.port)"
        environment["AUTHD_KEYS_CA"] = authd.caFile
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_offline_verify.py").path
        let result = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile],
                                           environment: environment, timeout: 120)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stdout.contains("skipped"), result.stdout)
        XCTAssertTrue(result.stdout.contains("1 passed"), result.stdout)
    }
}

/// Key-set material for tests.
enum KeySetTestFiles {
    /// A new key-encryption key in a mode-0600 file of its own.
    static func encryptionKeyFile() throws -> String {
        let directory = try TestEnvironment.makeTemporaryDirectory("kek")
        let path = directory.appendingPathComponent("key-encryption.key").path
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
        guard FileManager.default.createFile(atPath: path, contents: Data(Data(bytes).base64EncodedString().utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        return path
    }
}
