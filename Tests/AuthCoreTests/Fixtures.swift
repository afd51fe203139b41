import AuthCore
import Foundation
import MariaDBStore
import RPCCore
import Support
import TestSupport
import XCTest

enum Fixtures {
    static let key1 = AuthTestConfiguration.key1
    static let key2 = AuthTestConfiguration.key2
    static let cheapHashing = AuthTestConfiguration.cheapHashing

    static func configuration(throttle: ThrottlePolicy = .default, hashing: Argon2Parameters = cheapHashing,
                              issuer: String? = "auth-tests", audience: String? = "internal") -> AuthConfiguration {
        AuthTestConfiguration.make(throttle: throttle, hashing: hashing, issuer: issuer, audience: audience)
    }

    static func core(_ store: any AuthStore, clock: TestClock, configuration: AuthConfiguration = configuration()) throws -> AuthCore {
        try AuthCore(configuration: configuration, store: store, now: clock.function)
    }

    /// Runs `body` for `count` indices on `count` threads at once (released together), with a time bound.
    static func concurrently(_ count: Int, timeout: TimeInterval = 120, _ body: @escaping @Sendable (Int) -> Void) {
        XCTAssertTrue(runTogether(count, timeout: timeout, body), "concurrent work did not finish within \(timeout) s")
    }
}

/// Thread-safe counters for concurrent tests.
final class Tally: Sendable {
    private let counts = Locked<[String: Int]>([:])
    func add(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }
    subscript(_ key: String) -> Int { counts.withLock { $0[key] ?? 0 } }
    var all: [String: Int] { counts.withLock { $0 } }
}

extension AuthError {
    static func code(of body: () throws -> Void) -> AuthError.Code? {
        do { try body() } catch let e as AuthError { return e.code } catch { return .internal }
        return nil
    }
}
