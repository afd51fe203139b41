@testable import AuthCore
import Foundation
import TestSupport
import XCTest

/// Attacks on registration and login: a registration flood from one address, a flood of failed
/// logins (what it leaves in the store), and passwords that differ only in their Unicode form.
/// Every test runs on both stores.
final class AccountAbuseTests: StoreTestCase {
    // MARK: Registration throttling

    /// 300 registrations of new emails from one address: the per-address limit (20 an hour by
    /// default) holds, a refused one costs no argon2id run and stores no user, and another
    /// address still registers.
    func testRegistrationFloodFromOneAddressIsThrottledBeforeHashing() {
        forEachStore { fixture in
            let core = try fixture.core()
            let runsBefore = core.hasher.argon2Runs
            let tally = Tally()
            var messages = Set<String>()
            for i in 0..<300 {
                do {
                    _ = try core.register(email: "flood\(i)@example.com", password: "a long passphrase", clientAddress: "198.51.100.7")
                    tally.add("created")
                } catch {
                    tally.add((error as? AuthError)?.code.rawValue ?? "other")
                    if let e = error as? AuthError { messages.insert(e.message) }
                }
            }
            XCTAssertEqual(tally["created"], 20, "\(tally.all)")
            XCTAssertEqual(tally["registrationThrottled"], 280, "\(tally.all)")
            XCTAssertEqual(messages, ["Too many registrations. Try again in 3600 seconds."])
            XCTAssertEqual(core.hasher.argon2Runs - runsBefore, 20, "a refused registration ran argon2id")
            var stored = 0
            for i in 0..<300 where try core.store.user(emailKey: "flood\(i)@example.com") != nil { stored += 1 }
            XCTAssertEqual(stored, 20, "user rows beyond the registrations answered as created")
            _ = try core.register(email: "elsewhere@example.com", password: "a long passphrase", clientAddress: "198.51.100.8")
            // The window slides: an hour later the address registers again.
            fixture.clock.advance(3601)
            _ = try core.register(email: "later@example.com", password: "a long passphrase", clientAddress: "198.51.100.7")
        }
    }

    /// Registrations from many addresses are held to the global limit; one that is refused
    /// because the email is taken still counts (it cost a hash).
    func testRegistrationsAreCappedGloballyAndTakenEmailsCount() {
        forEachStore { fixture in
            var policy = ThrottlePolicy()
            policy.registerGlobalLimit = 5
            policy.registerAddressLimit = 2
            let core = try fixture.core(Fixtures.configuration(throttle: policy))
            _ = try core.register(email: "g0@example.com", password: "a long passphrase", clientAddress: "203.0.113.1")
            XCTAssertEqual(AuthError.code { _ = try core.register(email: "g0@example.com", password: "a long passphrase", clientAddress: "203.0.113.1") },
                           .emailTaken)
            XCTAssertEqual(AuthError.code { _ = try core.register(email: "g1@example.com", password: "a long passphrase", clientAddress: "203.0.113.1") },
                           .registrationThrottled)
            for i in 2..<5 {
                _ = try core.register(email: "g\(i)@example.com", password: "a long passphrase", clientAddress: "203.0.113.\(i)")
            }
            fixture.clock.advance(10)
            do throws(AuthError) {
                _ = try core.register(email: "g9@example.com", password: "a long passphrase", clientAddress: "203.0.113.9")
                XCTFail("not throttled")
            } catch {
                guard case .registrationThrottled(let after) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(after, 3590, accuracy: 1)
            }
            // Without a client address (an in-process caller) only the global limit applies.
            XCTAssertEqual(AuthError.code { _ = try core.register(email: "g8@example.com", password: "a long passphrase", clientAddress: nil) },
                           .registrationThrottled)
            let throttled = try core.store.auditEvents(userID: nil, limit: 100).filter { $0.kind == .registerThrottled }
            XCTAssertEqual(throttled.map(\.count).reduce(0, +), 3, "\(throttled)")
        }
    }

    /// The registration limits are checked like every other setting.
    func testRegistrationLimitsOutsideTheirRangeAreRefused() {
        for change in [{ (p: inout ThrottlePolicy) in p.registerAddressLimit = 0 }, { $0.registerGlobalLimit = 100_001 },
                       { $0.registerWindow = .zero }] {
            var policy = ThrottlePolicy()
            change(&policy)
            XCTAssertThrowsError(try Fixtures.configuration(throttle: policy).validated())
        }
        XCTAssertNoThrow(try Fixtures.configuration().validated())
    }

    /// The password policy runs before the throttle: a rejected password costs nothing and does
    /// not use up the address's registrations.
    func testRejectedPasswordsDoNotUseUpRegistrations() {
        forEachStore { fixture in
            var policy = ThrottlePolicy()
            policy.registerAddressLimit = 1
            let core = try fixture.core(Fixtures.configuration(throttle: policy))
            for _ in 0..<5 {
                XCTAssertEqual(AuthError.code { _ = try core.register(email: "p@example.com", password: "short", clientAddress: "192.0.2.5") },
                               .weakPassword)
            }
            _ = try core.register(email: "p@example.com", password: "a long passphrase", clientAddress: "192.0.2.5")
        }
    }

    // MARK: Failed-login floods

    /// 2,000 failed logins against one account from one address: 10 are checked (the per-pair
    /// limit), the rest are refused, and their audit rows are aggregated: at most one
    /// `login_throttled` row per bucket and window, whose count is the attempts it stands for.
    func testFailedLoginFloodLeavesBoundedAuditRows() {
        forEachStore { fixture in
            let core = try fixture.core()
            let t = try core.register(email: "target@example.com", password: "a long passphrase", clientAddress: nil)
            let tally = Tally()
            for i in 0..<2000 {
                do {
                    _ = try core.login(email: "target@example.com", password: "guess number \(i)", clientAddress: "198.51.100.66")
                } catch { tally.add((error as? AuthError)?.code.rawValue ?? "other") }
            }
            XCTAssertEqual(tally["invalidCredentials"], 10, "\(tally.all)")
            XCTAssertEqual(tally["throttled"], 1990, "\(tally.all)")
            let events = try core.store.auditEvents(userID: nil, limit: 10_000)
            XCTAssertLessThanOrEqual(events.count, 1 + 10 + 3, "audit rows: \(events.count)")
            let throttled = events.filter { $0.kind == .loginThrottled }
            XCTAssertEqual(throttled.count, 1, "\(throttled)")
            XCTAssertEqual(throttled.first?.count, 1990)
            XCTAssertEqual(throttled.first?.userID, t.userID)
            XCTAssertEqual(throttled.first?.clientAddress, "198.51.100.66")
            // A new window starts a new row.
            fixture.clock.advance(901)
            for i in 0..<12 { _ = try? core.login(email: "target@example.com", password: "guess again \(i)", clientAddress: "198.51.100.66") }
            let later = try core.store.auditEvents(userID: nil, limit: 10_000).filter { $0.kind == .loginThrottled }
            XCTAssertEqual(later.map(\.count).sorted(), [2, 1990])
        }
    }

    // MARK: Unicode passwords

    static let precomposed = "caf\u{E9} cr\u{E8}me br\u{FB}l\u{E9}e"
    static let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e"

    /// A password registered in one Unicode form logs in with the other (NFC before hashing and
    /// verifying).
    func testPasswordsInEitherUnicodeFormAreTheSame() {
        forEachStore { fixture in
            let core = try fixture.core()
            XCTAssertNotEqual(Array(Self.precomposed.utf8), Array(Self.decomposed.utf8))
            _ = try core.register(email: "nfc@example.com", password: Self.precomposed, clientAddress: nil)
            _ = try core.login(email: "nfc@example.com", password: Self.decomposed, clientAddress: nil)
            _ = try core.register(email: "nfd@example.com", password: Self.decomposed, clientAddress: nil)
            _ = try core.login(email: "nfd@example.com", password: Self.precomposed, clientAddress: nil)
            _ = try core.login(email: "nfd@example.com", password: Self.decomposed, clientAddress: nil)
            XCTAssertEqual(AuthError.code { _ = try core.login(email: "nfd@example.com", password: "cafe cre me brule e", clientAddress: nil) },
                           .invalidCredentials)
        }
    }

    /// A hash made before normalisation from a password that was not in NFC still verifies with
    /// the password as typed, and is then replaced by the hash of its NFC form, so that either
    /// form logs in from then on.
    func testHashOfAnUnnormalisedPasswordStillVerifiesAndIsRehashed() {
        forEachStore { fixture in
            let core = try fixture.core()
            let legacy = try PasswordHasher(parameters: Fixtures.cheapHashing, concurrency: 1).hash(Self.decomposed)
            guard case .created(let id) = try core.store.createUser(NewUser(email: "old@example.com", emailKey: "old@example.com",
                                                                            passwordHash: legacy, registeredAt: fixture.clock.now)) else {
                return XCTFail("not created")
            }
            _ = try core.login(email: "old@example.com", password: Self.decomposed, clientAddress: nil)
            let rehashed = try XCTUnwrap(core.store.user(id: id)).passwordHash
            XCTAssertNotEqual(rehashed, legacy)
            XCTAssertTrue(try PasswordHasher(parameters: Fixtures.cheapHashing, concurrency: 1).verify(Self.precomposed, against: rehashed))
            _ = try core.login(email: "old@example.com", password: Self.precomposed, clientAddress: nil)
            _ = try core.login(email: "old@example.com", password: Self.decomposed, clientAddress: nil)
        }
    }

    /// The policy counts characters of the NFC form, and its byte bound applies after NFC: ten
    /// Hangul syllables typed as conjoining jamo (6 bytes each) are ten characters (3 bytes each
    /// in NFC).
    func testPasswordLengthIsCountedAfterNormalisation() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.passwordLength = 8...10
            let core = try fixture.core(configuration)
            let jamo = String(repeating: "\u{1100}\u{1161}", count: 10)
            XCTAssertGreaterThan(jamo.utf8.count, 40)
            _ = try core.register(email: "hangul@example.com", password: jamo, clientAddress: nil)
            _ = try core.login(email: "hangul@example.com", password: String(repeating: "\u{AC00}", count: 10), clientAddress: nil)
            XCTAssertEqual(AuthError.code { _ = try core.register(email: "hangul2@example.com", password: jamo + "\u{1100}\u{1161}", clientAddress: nil) },
                           .weakPassword)
        }
    }
}
