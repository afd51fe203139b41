import Foundation

/// Everything the auth core is configured with. Secrets come from the caller (file or
/// environment, read by the executable); there is no built-in key.
public struct AuthConfiguration: Sendable {
    /// HMAC keys by key id. Every key verifies; only `activeKeyID` signs. Each at least 32 bytes.
    public var signingKeys: [String: [UInt8]]
    /// The key id that signs new tokens (written as `kid` in the JWT header).
    public var activeKeyID: String
    /// `iss` written into and required in tokens, when set.
    public var issuer: String?
    /// `aud` written into and required in tokens, when set.
    public var audience: String?
    /// Lifetime of access tokens (default 15 minutes).
    public var accessTokenLifetime: TimeInterval = 15 * 60
    /// Lifetime of refresh tokens (default 14 days).
    public var refreshTokenLifetime: TimeInterval = 14 * 24 * 3600
    /// Clock skew tolerated when checking `exp` and `nbf` (default 30 s).
    public var leeway: TimeInterval = 30
    /// argon2id cost for new hashes; stored hashes with other costs are re-hashed at login.
    public var passwordHashing: Argon2Parameters = .owasp
    /// argon2id hashes run at once at most (default: the number of cores); callers beyond it wait.
    public var passwordHashingConcurrency = ProcessInfo.processInfo.activeProcessorCount
    /// Password length bounds, in characters.
    public var passwordLength: ClosedRange<Int> = 8...1024
    /// Login throttling.
    public var throttle: ThrottlePolicy = .default
    /// How often the revocation poller reads new rows (default 1 s): the bound within which a
    /// revocation on another instance is honoured here is this plus one poll's duration.
    public var revocationPollInterval: TimeInterval = 1
    /// How often the poller also purges expired rows from the store.
    public var purgeInterval: TimeInterval = 60
    /// Tokens that verified, kept with their claims so that validating them again skips the
    /// signature and parsing (expiry and revocation are still checked every time). 0 disables.
    /// About 400 bytes an entry with a typical token.
    public var validationCacheCapacity = 65_536
    /// How often a background probe pings the store for `health()` (default 0.25 s).
    public var healthProbeInterval: TimeInterval = 0.25
    /// `health()` says healthy only if the store answered within this long (default 1 s): a
    /// store that stops answering is reported unhealthy within this bound even while a probe hangs.
    public var healthStaleness: TimeInterval = 1

    public init(signingKeys: [String: [UInt8]], activeKeyID: String, issuer: String? = nil, audience: String? = nil) {
        self.signingKeys = signingKeys
        self.activeKeyID = activeKeyID
        self.issuer = issuer
        self.audience = audience
    }

    /// Checks the configuration; throws a message naming the bad setting (never a key).
    public func validated() throws -> AuthConfiguration {
        guard !signingKeys.isEmpty else { throw ConfigurationError("no signing keys") }
        guard signingKeys[activeKeyID] != nil else { throw ConfigurationError("active key id \(activeKeyID) has no key") }
        for (kid, key) in signingKeys {
            guard JWTCodec.isValidKeyID(kid) else {
                throw ConfigurationError("key id must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
            }
            guard key.count >= 32 else { throw ConfigurationError("key \(kid) is shorter than 32 bytes") }
        }
        guard accessTokenLifetime > 0, refreshTokenLifetime > 0, leeway >= 0 else {
            throw ConfigurationError("lifetimes must be positive and leeway not negative")
        }
        guard revocationPollInterval > 0, revocationPollInterval <= 60 else {
            throw ConfigurationError("revocationPollInterval must be in (0, 60] seconds")
        }
        guard validationCacheCapacity >= 0, validationCacheCapacity <= 1 << 24 else {
            throw ConfigurationError("validationCacheCapacity must be in 0...16777216")
        }
        guard healthProbeInterval > 0, healthStaleness > healthProbeInterval else {
            throw ConfigurationError("healthProbeInterval must be positive and below healthStaleness")
        }
        guard passwordLength.lowerBound >= 1 else { throw ConfigurationError("password minimum must be at least 1") }
        try passwordHashing.check()
        try throttle.check()
        return self
    }
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

    func check() throws {
        guard parallelism == 1 else { throw ConfigurationError("argon2 parallelism must be 1 (libsodium)") }
        guard memoryKiB >= 8, memoryKiB <= 4 * 1024 * 1024 else { throw ConfigurationError("argon2 memory must be 8 KiB to 4 GiB") }
        guard iterations >= 1, iterations <= 64 else { throw ConfigurationError("argon2 iterations must be 1 to 64") }
    }
}

/// The login throttling policy (see README "Login throttling").
///
/// Three sliding windows, counted in the store so every instance shares them, each attempt
/// reserved atomically before the password is checked (so concurrent guesses cannot overrun):
/// - per account: `accountLimit` failures per `accountWindow` (default 100 per hour, ASVS 2.2.1),
///   counted for unknown emails exactly as for known ones;
/// - per client address: `addressLimit` failures per `addressWindow` across all accounts;
/// - per account and address: `pairLimit` per `pairWindow`.
/// An address from which the account logged in successfully within `knownAddressLifetime` is
/// held only to the per-pair limit, so an attacker elsewhere cannot lock the real user out.
public struct ThrottlePolicy: Sendable, Equatable {
    public var accountLimit = 100
    public var accountWindow: TimeInterval = 3600
    public var addressLimit = 100
    public var addressWindow: TimeInterval = 900
    public var pairLimit = 10
    public var pairWindow: TimeInterval = 900
    public var knownAddressLifetime: TimeInterval = 90 * 24 * 3600

    public init() {}

    public static let `default` = ThrottlePolicy()

    /// The longest window (attempt rows older than it are purged).
    var longestWindow: TimeInterval { max(accountWindow, addressWindow, pairWindow) }

    func check() throws {
        guard accountLimit > 0, addressLimit > 0, pairLimit > 0,
              accountWindow > 0, addressWindow > 0, pairWindow > 0 else {
            throw ConfigurationError("throttle limits and windows must be positive")
        }
    }
}

/// A configuration mistake, named without any secret.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
