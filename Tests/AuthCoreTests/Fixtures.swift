import AuthCore
import Foundation
import MariaDBStore
import RPCCore
import Support
import TestSupport
import XCTest

enum Fixtures {
    static let key1 = Array("0123456789abcdef0123456789abcdef-key-one".utf8)
    static let key2 = Array("fedcba9876543210fedcba9876543210-key-two".utf8)
    /// Cheap argon2id for tests that are not about hashing.
    static let cheapHashing = Argon2Parameters(memoryKiB: 64, iterations: 1)

    static func configuration(throttle: ThrottlePolicy = .default, hashing: Argon2Parameters = cheapHashing,
                              issuer: String? = "auth-tests", audience: String? = "internal") -> AuthConfiguration {
        var c = AuthConfiguration(signingKeys: ["k1": key1, "k0": key2], activeKeyID: "k1", issuer: issuer, audience: audience)
        c.passwordHashing = hashing
        c.throttle = throttle
        c.leeway = .seconds(5)
        return c
    }

    static func core(_ store: any AuthStore, clock: TestClock, configuration: AuthConfiguration = configuration()) throws -> AuthCore {
        try AuthCore(configuration: configuration, store: store, now: clock.function)
    }

    /// Runs `body` for `count` indices on `count` threads at once (released together), with a time bound.
    static func concurrently(_ count: Int, timeout: TimeInterval = 120, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        let gate = DispatchSemaphore(value: 0)
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                gate.wait()
                body(i)
                group.leave()
            }
        }
        for _ in 0..<count { gate.signal() }
        XCTAssertEqual(group.wait(timeout: .now() + timeout), .success, "concurrent work did not finish within \(timeout) s")
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
