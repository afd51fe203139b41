import AuthCore
import Foundation

/// The auth core's settings for tests and benchmarks that are not about them: two fixed HS256 keys
/// (`k1` signs, `k0` only verifies), an issuer and audience, cheap argon2id, 5 s of leeway. One
/// place for AuthCoreTests, AuthServiceTests and authbench.
public enum AuthTestConfiguration {
    public static let key1 = Array("0123456789abcdef0123456789abcdef-key-one".utf8)
    public static let key2 = Array("fedcba9876543210fedcba9876543210-key-two".utf8)
    /// Cheap argon2id for tests that are not about hashing.
    public static let cheapHashing = Argon2Parameters(memoryKiB: 64, iterations: 1)

    public static func make(throttle: ThrottlePolicy = .default, hashing: Argon2Parameters = cheapHashing,
                            issuer: String? = "auth-tests", audience: String? = "internal") -> AuthConfiguration {
        var c = AuthConfiguration(signingKeys: ["k1": key1, "k0": key2], activeKeyID: "k1", issuer: issuer, audience: audience)
        c.passwordHashing = hashing
        c.throttle = throttle
        c.leeway = .seconds(5)
        return c
    }
}

/// Runs `body` for `count` indices on `count` threads released together; true when all finished
/// within `timeout`.
@discardableResult
public func runTogether(_ count: Int, timeout: TimeInterval = 120, _ body: @escaping @Sendable (Int) -> Void) -> Bool {
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
    return group.wait(timeout: .now() + timeout) == .success
}
