import Metrics

/// The counters `AuthCore` keeps for metrics (slots of its `ShardedCounters`).
enum CoreCounter: Int, CaseIterable {
    case cacheMiss, throttledLogin, throttledRegister, storeErrors
}

/// What the auth core counted since it was made, and what waits now: for metrics.
public struct CoreStatistics: Sendable, Equatable {
    /// Validations of a non-empty token that found it in the validated-token cache (counted by
    /// the cache), and those that did not (verified in full).
    public var validateCacheHits: Int
    public var validateCacheMisses: Int
    /// Logins and registrations refused by the throttling policy.
    public var throttledLogins: Int
    public var throttledRegistrations: Int
    /// Store calls that failed (unavailable or otherwise).
    public var storeErrors: Int
    /// Password hashes waiting for an argon2 slot now.
    public var argon2Waiting: Int
}

extension AuthCore {
    /// The counts so far (each a sum over threads, not one snapshot).
    public var statistics: CoreStatistics {
        CoreStatistics(validateCacheHits: validated.hits,
                       validateCacheMisses: counters.sum(at: CoreCounter.cacheMiss.rawValue),
                       throttledLogins: counters.sum(at: CoreCounter.throttledLogin.rawValue),
                       throttledRegistrations: counters.sum(at: CoreCounter.throttledRegister.rawValue),
                       storeErrors: counters.sum(at: CoreCounter.storeErrors.rawValue),
                       argon2Waiting: hasher.argon2Waiting)
    }
}
