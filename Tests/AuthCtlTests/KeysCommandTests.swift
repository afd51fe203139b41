import Foundation
import TestSupport
import XCTest

/// `authctl keys` against an authd with a key set: `--json` prints exactly the JWK Set that
/// `authd keys jwks` prints from the database; the text form indents it and says how long to cache it.
final class KeysCommandTests: XCTestCase {
    func testKeysPrintsTheJWKSet() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("kek")
        let kek = directory.appendingPathComponent("key-encryption.key").path
        let bytes = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        XCTAssertTrue(FileManager.default.createFile(atPath: kek, contents: Data(bytes.base64EncodedString().utf8),
                                                     attributes: [.posixPermissions: 0o600]))
        let authd = try AuthdProcess.start(arguments: ["--key-encryption-key-file", kek, "--key-publish-lead", "60"])
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)

        let json = try ctl.run(["keys", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let fromDatabase = try authd.runSubcommand(["keys", "jwks"])
        XCTAssertEqual(fromDatabase.status, 0, fromDatabase.stderr)
        XCTAssertEqual(json.stdout, fromDatabase.stdout)
        XCTAssertTrue(json.stdout.hasPrefix(#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":""#), json.stdout)

        let text = try ctl.run(["keys"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("\"crv\" : \"Ed25519\""), text.stdout)
        XCTAssertTrue(text.stdout.contains("Cache for 30 s"), text.stdout)

        let list = try authd.runSubcommand(["keys", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains(" signing "), list.stdout)
    }
}
