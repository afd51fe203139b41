import CSodium
import Foundation
import TestSupport
import XCTest

/// Proves libsodium's argon2id interoperates with an independent implementation (argon2-cffi,
/// which wraps the reference libargon2): ours verifies its hash, and it verifies ours.
final class SodiumSmokeTests: XCTestCase {
    override func setUp() {
        XCTAssertGreaterThanOrEqual(sodium_init(), 0)  // 0 first time, 1 already done, -1 failure
    }

    /// Made by argon2-cffi 25 (`PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)`).
    let referenceHash = "$argon2id$v=19$m=19456,t=2,p=1$7IDu6BoKeLbLRUabaVhfzQ$VsYA50Ju5aGrFem1yOkwFLh+XQdi8Gj/gEQWV3eadNg"
    let password = "correct horse battery staple"

    func testVerifiesReferenceHash() {
        // crypto_pwhash_str_verify: 0 on match, -1 on mismatch or malformed string.
        XCTAssertEqual(crypto_pwhash_str_verify(referenceHash, password, UInt64(password.utf8.count)), 0)
        XCTAssertEqual(crypto_pwhash_str_verify(referenceHash, "wrong", 5), -1)
    }

    func testIndependentImplementationVerifiesOurHash() throws {
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
        // crypto_pwhash_str_alg: 0 on success, -1 when memory cannot be allocated.
        let rc = crypto_pwhash_str_alg(&out, password, UInt64(password.utf8.count), 2, 19 * 1024 * 1024,
                                       crypto_pwhash_ALG_ARGON2ID13)
        XCTAssertEqual(rc, 0)
        let hash = String(decoding: out.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        XCTAssertTrue(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), hash)

        let script = """
        import sys, argon2
        h, pw = sys.stdin.read().split("\\n", 1)
        try:
            argon2.PasswordHasher().verify(h, pw)
            print("match")
        except argon2.exceptions.VerifyMismatchError:
            print("mismatch")
        """
        let python = try TestEnvironment.python()
        let ok = try ProcessRunner.run(python, ["-c", script], input: Data("\(hash)\n\(password)".utf8))
        XCTAssertEqual(ok.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "match", ok.stderr)
        let bad = try ProcessRunner.run(python, ["-c", script], input: Data("\(hash)\nnot the password".utf8))
        XCTAssertEqual(bad.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "mismatch", bad.stderr)
    }
}
