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

    /// A client address as a bucket key: at most 64 characters (longer ones are hashed).
    static func normalize(_ address: String) -> String {
        let a = address.lowercased()
        return a.utf8.count <= 64 ? a : "h" + Digest.hex(Digest.sha256(a.utf8))
    }
}
