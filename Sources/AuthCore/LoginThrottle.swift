import Foundation

/// Which throttle buckets a login attempt is counted in (the policy is documented on
/// `ThrottlePolicy`). Keys carry no email in clear: the account key is a SHA-256 of it.
enum LoginThrottle {
    static func buckets(policy: ThrottlePolicy, emailKey: String, address: String?, knownAddress: Bool) -> [ThrottleBucket] {
        let account = "a:" + Digest.hex(Digest.sha256(emailKey.utf8))
        guard let address else {
            return [ThrottleBucket(key: account, limit: policy.accountLimit, window: policy.accountWindow.timeInterval)]
        }
        let pair = ThrottleBucket(key: "p:" + Digest.hex(Digest.sha256(Array(emailKey.utf8) + [0] + Array(address.utf8))),
                                  limit: policy.pairLimit, window: policy.pairWindow.timeInterval)
        if knownAddress { return [pair] }
        return [
            ThrottleBucket(key: account, limit: policy.accountLimit, window: policy.accountWindow.timeInterval),
            ThrottleBucket(key: "i:" + address, limit: policy.addressLimit, window: policy.addressWindow.timeInterval),
            pair,
        ]
    }

    /// The buckets a registration is counted in: all registrations together and, when the client
    /// address is known, that address's (normalised by `normalize`).
    static func registrationBuckets(policy: ThrottlePolicy, address: String?) -> [ThrottleBucket] {
        let window = policy.registerWindow.timeInterval
        let global = ThrottleBucket(key: "r*", limit: policy.registerGlobalLimit, window: window)
        guard let address else { return [global] }
        return [global, ThrottleBucket(key: "r:" + address, limit: policy.registerAddressLimit, window: window)]
    }

    /// A client address as a bucket key: at most 64 characters (longer ones are hashed).
    static func normalize(_ address: String) -> String {
        let a = address.lowercased()
        return a.utf8.count <= 64 ? a : "h" + Digest.hex(Digest.sha256(a.utf8))
    }

    /// The audit aggregate of a refused attempt: one per event kind, denying bucket and window of
    /// that bucket (windows aligned on multiples of its length since 1970), so that a flood of
    /// refused attempts writes one audit row per bucket and window, with a count.
    static func auditAggregate(_ kind: AuditEvent.Kind, bucket: String, in buckets: [ThrottleBucket], at: Date) -> [UInt8] {
        let window = buckets.first { $0.key == bucket }?.window ?? 3600
        let index = Int64((at.timeIntervalSince1970 / max(window, 1)).rounded(.down))
        return Digest.sha256(Array("\(kind.rawValue)\u{0}\(bucket)\u{0}\(index)".utf8))
    }

    /// Which limit a bucket key stands for, for the audit trail ("per account", …).
    static func limitName(_ bucket: String) -> String {
        switch bucket.prefix(2) {
        case "a:": "the per-account limit"
        case "i:": "the per-address limit"
        case "p:": "the per-account-and-address limit"
        case "r:": "the per-address registration limit"
        case "r*": "the global registration limit"
        default: "a throttle limit"
        }
    }
}
