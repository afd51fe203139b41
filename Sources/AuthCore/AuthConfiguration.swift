import Foundation

/// Everything the auth core is configured with. Secrets come from the caller (file or
/// environment, read by the executable); there is no built-in key.
public struct AuthConfiguration: Sendable {
    /// HMAC keys by key id. Every key verifies; only `activeKeyID` signs. Each at least 32 bytes.
    public var signingKeys: [String: [UInt8]]
    /// The key id that signs new tokens (written as `kid` in the JWT header).
    public var activeKeyID: String
    /// A key set kept in the store (EdDSA and HS256 keys with a life cycle, published as a JWK
    /// Set). When set, `signingKeys` only verify (one signs only while the set has no key that
    /// can) and may be empty; the store must be a `SigningKeyStore`.
    public var keySet: KeySetConfiguration?
    /// `iss` written into and required in tokens, when set.
    public var issuer: String?
    /// `aud` written into and required in tokens, when set.
    public var audience: String?
    /// Lifetime of access tokens (default 15 minutes).
    public var accessTokenLifetime = Bounds.accessTokenLifetime.default
    /// Lifetime of refresh tokens (default 14 days).
    public var refreshTokenLifetime = Bounds.refreshTokenLifetime.default
    /// Clock skew tolerated when checking `exp` and `nbf` (default 30 s).
    public var leeway = Bounds.leeway.default
    /// argon2id cost for new hashes; stored hashes with other costs are re-hashed at login.
    public var passwordHashing: Argon2Parameters = .owasp
    /// argon2id hashes run at once at most (default: the number of cores); callers beyond it wait.
    public var passwordHashingConcurrency = ProcessInfo.processInfo.activeProcessorCount
    /// Password length bounds, in characters.
    public var passwordLength: ClosedRange<Int> = 8...1024
    /// Login throttling.
    public var throttle: ThrottlePolicy = .default
    /// How often the revocation poller reads new rows (default 500 ms): the bound within which a
    /// revocation on another instance is honoured here is this plus one poll's duration.
    public var revocationPollInterval = Bounds.revocationPollInterval.default
    /// How long validation may trust the revocations in memory after the feed was last read
    /// successfully (default 5 s). Past it, while the core follows the feed (`start()`), a token
    /// that would be valid is answered `.unavailable` (UNAVAILABLE) and `health()` is false: this
    /// instance may be missing another instance's logouts. Must exceed `revocationPollInterval`.
    public var revocationMaxStaleness = Bounds.revocationMaxStaleness.default
    /// The absolute lifetime of a session (a refresh-token family), from its login or registration
    /// (default 30 days): rotation never extends a refresh token past it.
    public var sessionMaxAge = Bounds.sessionMaxAge.default
    /// How often the poller also purges expired rows from the store.
    public var purgeInterval: Duration = .seconds(60)
    /// Tokens that verified, kept with their claims so that validating them again skips the
    /// signature and parsing (expiry and revocation are still checked every time). 0 disables.
    /// About 400 bytes an entry with a typical token.
    public var validationCacheCapacity = 65_536
    /// How often a background probe pings the store for `health()` (default 250 ms).
    public var healthProbeInterval: Duration = .milliseconds(250)
    /// `health()` says healthy only if the store answered within this long (default 1 s): a
    /// store that stops answering is reported unhealthy within this bound even while a probe hangs.
    public var healthStaleness: Duration = .seconds(1)
    /// Who may register: anyone (`open`), or nobody (`closed`: administrators create accounts).
    public var registration: RegistrationPolicy = .open
    /// How long an administrator's password reset code stays valid.
    public var resetCodeLifetime: Duration = .seconds(15 * 60)
    /// Lifetime of service tokens (client credentials; default 10 minutes).
    public var serviceTokenLifetime = Bounds.serviceTokenLifetime.default
    /// How long a service's previous secret still works after `rotate-secret` (default 1 hour).
    public var serviceSecretGrace = Bounds.serviceSecretGrace.default
    /// The key service client secrets are hashed under (`ServiceSecrets`): the key-encryption key
    /// of the key set. Without it, ServiceToken accepts bound client certificates only.
    public var serviceSecretKey: KeyEncryptionKey?
    /// Keep the bound client certificates in memory (refreshed each revocation poll), for
    /// `serviceCertificateBound` (Validate with `--validate-callers authenticated`).
    public var followServiceBindings = false

    public init(signingKeys: [String: [UInt8]], activeKeyID: String, issuer: String? = nil, audience: String? = nil) {
        self.signingKeys = signingKeys
        self.activeKeyID = activeKeyID
        self.issuer = issuer
        self.audience = audience
    }

    /// Checks the configuration; throws a message naming the bad setting (never a key).
    public func validated() throws -> AuthConfiguration {
        guard !signingKeys.isEmpty || keySet != nil else { throw ConfigurationError("no signing keys") }
        guard signingKeys.isEmpty || signingKeys[activeKeyID] != nil else {
            throw ConfigurationError("active key id \(activeKeyID) has no key")
        }
        if let keySet { try Bounds.keyPublishLead.check(keySet.publishLead, "keyPublishLead") }
        for (kid, key) in signingKeys {
            guard JWTCodec.isValidKeyID(kid) else {
                throw ConfigurationError("key id must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
            }
            guard key.count >= 32 else { throw ConfigurationError("key \(kid) is shorter than 32 bytes") }
        }
        try Bounds.accessTokenLifetime.check(accessTokenLifetime, "accessTokenLifetime")
        try Bounds.refreshTokenLifetime.check(refreshTokenLifetime, "refreshTokenLifetime")
        try Bounds.leeway.check(leeway, "leeway")
        try Bounds.revocationPollInterval.check(revocationPollInterval, "revocationPollInterval")
        try Bounds.revocationMaxStaleness.check(revocationMaxStaleness, "revocationMaxStaleness")
        guard revocationMaxStaleness > revocationPollInterval else {
            throw ConfigurationError("revocationMaxStaleness must exceed revocationPollInterval")
        }
        try Bounds.sessionMaxAge.check(sessionMaxAge, "sessionMaxAge")
        try Bounds.serviceTokenLifetime.check(serviceTokenLifetime, "serviceTokenLifetime")
        try Bounds.serviceSecretGrace.check(serviceSecretGrace, "serviceSecretGrace")
        try Bounds.passwordHashingConcurrency.check(passwordHashingConcurrency, "passwordHashingConcurrency")
        guard validationCacheCapacity >= 0, validationCacheCapacity <= 1 << 24 else {
            throw ConfigurationError("validationCacheCapacity must be in 0...16777216")
        }
        guard healthProbeInterval > .zero, healthStaleness > healthProbeInterval else {
            throw ConfigurationError("healthProbeInterval must be positive and below healthStaleness")
        }
        guard passwordLength.lowerBound >= 1 else { throw ConfigurationError("password minimum must be at least 1") }
        try passwordHashing.check()
        try throttle.check()
        return self
    }
}

extension AuthConfiguration {
    /// The default and accepted range of the bounded settings. The properties start from these
    /// defaults, `validated()` checks these ranges, and authd's settings table (its help and its
    /// flag and environment lookup) reads both from here, so the three cannot disagree.
    public enum Bounds {
        public static let accessTokenLifetime = Bounded<Duration>(default: .seconds(900), range: .seconds(1)...(.seconds(86_400)))
        public static let refreshTokenLifetime = Bounded<Duration>(default: .seconds(14 * 86_400),
                                                                   range: .seconds(60)...(.seconds(366 * 86_400)))
        public static let leeway = Bounded<Duration>(default: .seconds(30), range: .zero...(.seconds(600)))
        /// At most 1 s: the bound within which a logout reaches every instance.
        public static let revocationPollInterval = Bounded<Duration>(default: .milliseconds(500),
                                                                     range: .milliseconds(10)...(.seconds(1)))
        /// How stale the revocations in memory may be before validation fails closed.
        public static let revocationMaxStaleness = Bounded<Duration>(default: .seconds(5), range: .seconds(1)...(.seconds(3600)))
        /// The absolute lifetime of a session.
        public static let sessionMaxAge = Bounded<Duration>(default: .seconds(30 * 86_400),
                                                            range: .seconds(60)...(.seconds(366 * 86_400)))
        public static let passwordHashingConcurrency = 1...1024
        /// How long a new key of the key set is published before it signs.
        public static let keyPublishLead = Bounded<Duration>(default: .seconds(600), range: .seconds(1)...(.seconds(30 * 86_400)))
        /// Registrations per client address per `registerWindow`.
        public static let registerLimitPerAddress = Bounded<Int>(default: 20, range: 1...100_000)
        /// Registrations from all addresses together per `registerWindow` (each registration counts
        /// the window's rows of this bucket, hence the modest ceiling).
        public static let registerLimitGlobal = Bounded<Int>(default: 1_000, range: 1...100_000)
        public static let registerWindow = Bounded<Duration>(default: .seconds(3600), range: .seconds(1)...(.seconds(86_400)))
        /// Service tokens: short-lived (no refresh token; the service asks again).
        public static let serviceTokenLifetime = Bounded<Duration>(default: .seconds(600), range: .seconds(1)...(.seconds(86_400)))
        /// The old secret's grace after a rotation (0: it stops at once).
        public static let serviceSecretGrace = Bounded<Duration>(default: .seconds(3600), range: .zero...(.seconds(7 * 86_400)))
    }
}

/// A setting's default and the values it accepts.
public struct Bounded<Value: Comparable & Sendable>: Sendable {
    public let `default`: Value
    public let range: ClosedRange<Value>

    public init(default: Value, range: ClosedRange<Value>) {
        precondition(range.contains(`default`), "a default outside its own range")
        self.default = `default`
        self.range = range
    }

    /// Throws a message naming the setting when `value` is outside the range.
    func check(_ value: Value, _ name: String) throws {
        guard range.contains(value) else {
            throw ConfigurationError("\(name) must be within \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
    }
}

extension ClosedRange where Bound == Int {
    /// Throws a message naming the setting when `value` is outside the range.
    func check(_ value: Int, _ name: String) throws {
        guard contains(value) else { throw ConfigurationError("\(name) must be within \(lowerBound)...\(upperBound), not \(value)") }
    }
}

extension Duration {
    /// The duration in seconds, for Foundation's `Date` and `TimeInterval` at the edges.
    var timeInterval: TimeInterval { self / .seconds(1) }
}

/// argon2id cost parameters (as in a PHC string: m in KiB, t passes, p lanes).
public struct Argon2Parameters: Sendable, Equatable {
    public var memoryKiB: Int
    public var iterations: Int
    /// libsodium computes one lane; only 1 is accepted for new hashes (others still verify).
    public var parallelism: Int

    public init(memoryKiB: Int, iterations: Int, parallelism: Int = 1) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// OWASP's recommendation: m=19 MiB, t=2, p=1.
    public static let owasp = Argon2Parameters(memoryKiB: 19 * 1024, iterations: 2, parallelism: 1)

    /// The memory accepted, in KiB: 8 KiB to 4 GiB (libsodium's limits).
    public static let memoryKiBRange = 8...(4 << 20)
    /// The iterations accepted.
    public static let iterationsRange = 1...64

    func check() throws {
        guard parallelism == 1 else { throw ConfigurationError("argon2 parallelism must be 1 (libsodium)") }
        try Self.memoryKiBRange.check(memoryKiB, "argon2 memory (KiB)")
        try Self.iterationsRange.check(iterations, "argon2 iterations")
    }
}

/// The login and registration throttling policy (docs/auth-core.md, "Throttling").
///
/// Sliding windows, counted in the store so every instance shares them, each attempt reserved
/// atomically before any password is hashed or checked (so concurrent attempts cannot overrun),
/// and a refused attempt leaves no row behind. Logins, three windows:
/// - per account: `accountLimit` failures per `accountWindow` (default 100 per hour, ASVS 2.2.1),
///   counted for unknown emails exactly as for known ones;
/// - per client address: `addressLimit` failures per `addressWindow` across all accounts;
/// - per account and address: `pairLimit` per `pairWindow`.
/// An address from which the account logged in successfully within `knownAddressLifetime` is
/// held only to the per-pair limit, so an attacker elsewhere cannot lock the real user out.
///
/// Registrations (successful or not, once the email and password pass their checks), two
/// windows of `registerWindow`: `registerAddressLimit` per client address (default 20 an hour)
/// and `registerGlobalLimit` from all addresses together (default 1,000 an hour).
public struct ThrottlePolicy: Sendable, Equatable {
    public var accountLimit = 100
    public var accountWindow: Duration = .seconds(3600)
    public var addressLimit = 100
    public var addressWindow: Duration = .seconds(900)
    public var pairLimit = 10
    public var pairWindow: Duration = .seconds(900)
    public var knownAddressLifetime: Duration = .seconds(90 * 86_400)
    public var registerAddressLimit = AuthConfiguration.Bounds.registerLimitPerAddress.default
    public var registerGlobalLimit = AuthConfiguration.Bounds.registerLimitGlobal.default
    public var registerWindow = AuthConfiguration.Bounds.registerWindow.default

    public init() {}

    public static let `default` = ThrottlePolicy()

    /// The longest window (attempt rows and bucket rows older than it are purged).
    var longestWindow: Duration { max(accountWindow, addressWindow, pairWindow, registerWindow) }

    func check() throws {
        guard accountLimit > 0, addressLimit > 0, pairLimit > 0,
              accountWindow > .zero, addressWindow > .zero, pairWindow > .zero else {
            throw ConfigurationError("throttle limits and windows must be positive")
        }
        typealias B = AuthConfiguration.Bounds
        try B.registerLimitPerAddress.check(registerAddressLimit, "registerAddressLimit")
        try B.registerLimitGlobal.check(registerGlobalLimit, "registerGlobalLimit")
        try B.registerWindow.check(registerWindow, "registerWindow")
    }
}

/// A configuration mistake, named without any secret.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Who may call Register (`--registration`).
public enum RegistrationPolicy: String, Sendable, CaseIterable {
    case open, closed
}
