@testable import AuthCore
import Foundation
import RPCCore
import Support
import TestSupport
import XCTest

/// argon2id through libsodium, checked both ways against argon2-cffi (the reference libargon2),
/// and the password policy's list.
final class PasswordHasherTests: XCTestCase {
    let script = """
    import sys, argon2
    mode, a, b = sys.stdin.read().split("\\n")[:3]
    if mode == "hash":
        m, t = (int(x) for x in a.split(","))
        print(argon2.PasswordHasher(time_cost=t, memory_cost=m, parallelism=1).hash(b))
    else:
        try:
            argon2.PasswordHasher().verify(a, b)
            print("match")
        except argon2.exceptions.VerifyMismatchError:
            print("mismatch")
    """

    func python(_ lines: String...) throws -> String {
        let r = try ProcessRunner.run(try TestEnvironment.python(), ["-c", script], input: Data((lines.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testOurHashesVerifyInArgon2CFFI() throws {
        let hasher = try PasswordHasher(parameters: .owasp)
        for password in ["correct horse battery staple", "ünïcødé пароль 密码 🔑"] {
            let hash = try hasher.hash(password)
            XCTAssertTrue(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), hash)
            XCTAssertEqual(try python("verify", hash, password), "match")
            XCTAssertEqual(try python("verify", hash, password + "x"), "mismatch")
        }
    }

    func testArgon2CFFIHashesVerifyInOurs() throws {
        let hasher = try PasswordHasher(parameters: .owasp)
        let password = "ünïcødé passphrase"
        let current = try python("hash", "19456,2", password)
        XCTAssertTrue(current.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), current)
        XCTAssertTrue(hasher.verify(password, against: current))
        XCTAssertFalse(hasher.verify("ünïcødé passphrasE", against: current))
        XCTAssertFalse(hasher.needsRehash(current))
        // Made with older (weaker) parameters: still verifies, and is due for re-hashing.
        let older = try python("hash", "4096,3", password)
        XCTAssertTrue(hasher.verify(password, against: older))
        XCTAssertTrue(hasher.needsRehash(older))
    }

    /// Hashes run in at most `concurrency` slots; callers beyond wait, and all get their answer.
    func testConcurrencyIsBoundedAndEveryCallerIsServed() throws {
        XCTAssertThrowsError(try PasswordHasher(parameters: Fixtures.cheapHashing, concurrency: 0))
        let hasher = try PasswordHasher(parameters: Fixtures.cheapHashing, concurrency: 1)
        XCTAssertEqual(hasher.concurrency, 1)
        let hash = try hasher.hash("a long passphrase")
        let matches = Locked(0)
        Fixtures.concurrently(6) { _ in
            if hasher.verify("a long passphrase", against: hash) { matches.withLock { $0 += 1 } }
        }
        XCTAssertEqual(matches.withLock { $0 }, 6)
        XCTAssertEqual(try AuthCore(configuration: Fixtures.configuration(), store: InMemoryAuthStore()).hasher.concurrency,
                       ProcessInfo.processInfo.activeProcessorCount, "one hash per core by default")
    }

    func testHashTimingReportsTheBound() throws {
        let timing = try PasswordHashTiming.measure(parameters: Fixtures.cheapHashing, count: 3, threads: 2)
        XCTAssertGreaterThan(timing.hashMilliseconds, 0)
        XCTAssertGreaterThan(timing.parallelRate, 0)
        XCTAssertEqual(timing.threads, 2)
        XCTAssertEqual(timing.loginBound, Double(timing.cores) / (timing.hashMilliseconds / 1000), accuracy: 1e-6)
    }

    func testSaltsDifferAndMalformedHashesNeverMatch() throws {
        let hasher = try PasswordHasher(parameters: Fixtures.cheapHashing)
        XCTAssertNotEqual(try hasher.hash("same password"), try hasher.hash("same password"))
        for bad in ["", "$argon2id$", "plain", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA"] {
            XCTAssertFalse(hasher.verify("same password", against: bad))
        }
        XCTAssertTrue(hasher.needsRehash("garbage"))
        XCTAssertThrowsError(try PasswordHasher(parameters: Argon2Parameters(memoryKiB: 19456, iterations: 2, parallelism: 4)))
    }

    func testCommonPasswordListIsShipped() {
        let list = PasswordPolicy.commonPasswords
        XCTAssertGreaterThanOrEqual(list.count, 1000)
        for p in ["123456", "password", "qwerty", "iloveyou", "12345678", "football"] { XCTAssertTrue(list.contains(p), p) }
        let policy = PasswordPolicy()
        XCTAssertEqual(policy.check("Iloveyou1"), list.contains("iloveyou1") ? .common : nil)  // case-insensitive
        XCTAssertEqual(policy.check("QWERTYUIOP"), list.contains("qwertyuiop") ? .common : nil)
    }

    func testEmailNormalisation() {
        XCTAssertEqual(EmailAddress("  Ann.Lee+tag@Mail.Example.ORG\n")?.key, "ann.lee+tag@mail.example.org")
        XCTAssertEqual(EmailAddress("  Ann.Lee+tag@Mail.Example.ORG\n")?.value, "Ann.Lee+tag@Mail.Example.ORG")
        XCTAssertNotNil(EmailAddress("x@xn--bcher-kva.example"))
        XCTAssertNil(EmailAddress("x@bücher.example"))
        XCTAssertNotNil(EmailAddress(String(repeating: "a", count: 64) + "@" + String(repeating: "b", count: 63) + ".com"))
    }

    func testBase64URLIsStrict() {
        XCTAssertEqual(Base64URL.encode([0xfb, 0xff]), "-_8")
        XCTAssertEqual(Base64URL.decode("-_8"), [0xfb, 0xff])
        XCTAssertNil(Base64URL.decode("-_9"), "non-zero unused bits")
        XCTAssertNil(Base64URL.decode("-_8="))
        XCTAssertNil(Base64URL.decode("+/8"))
        XCTAssertNil(Base64URL.decode("A"))
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + n) }
            XCTAssertEqual(Base64URL.decode(Base64URL.encode(bytes)), bytes)
        }
    }
}

/// An unknown email costs the same as a wrong password (both run one argon2id verification at
/// the configured cost). Timing is compared loosely (medians within a factor of 1.5) so a busy
/// machine does not fail it; a missing dummy verification would differ by 100x or more.
final class LoginTimingTests: XCTestCase {
    func testUnknownEmailTakesAsLongAsAWrongPassword() throws {
        var configuration = Fixtures.configuration(hashing: .owasp)
        configuration.throttle.accountLimit = 1000
        configuration.throttle.addressLimit = 1000
        configuration.throttle.pairLimit = 1000
        let core = try AuthCore(configuration: configuration, store: InMemoryAuthStore())
        _ = try core.register(email: "timing@example.com", password: "a long passphrase", clientAddress: nil)
        func median(_ email: String) -> Double {
            var samples: [Double] = []
            for _ in 0..<7 {
                let start = DispatchTime.now().uptimeNanoseconds
                XCTAssertThrowsError(try core.login(email: email, password: "wrong passphrase", clientAddress: "10.0.0.1"))
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start))
            }
            return samples.sorted()[3]
        }
        let wrong = median("timing@example.com"), unknown = median("nobody@example.com")
        print(String(format: "login failure: wrong password %.1f ms, unknown email %.1f ms (medians of 7)", wrong / 1e6, unknown / 1e6))
        XCTAssertLessThan(max(wrong, unknown) / min(wrong, unknown), 1.5)
        XCTAssertGreaterThan(unknown, 5e6, "an unknown email must cost an argon2id verification")
    }
}
