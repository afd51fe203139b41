import Foundation

/// The key set in memory, for tests and single-process use.
extension InMemoryAuthStore: SigningKeyStore {
    public func insertSigningKey(_ key: SigningKeyRecord) throws {
        try signingKeyRows.withLock { rows in
            guard !rows.contains(where: { $0.kid == key.kid }) else { throw StoreError(.duplicate, "signing key \(key.kid) exists") }
            rows.append(key)
        }
    }

    public func signingKeys() throws -> [SigningKeyRecord] { signingKeyRows.withLock { $0 } }

    public func retireSigningKey(kid: String, at: Date, expiresAt: Date) throws -> Bool {
        signingKeyRows.withLock { rows in
            guard let i = rows.firstIndex(where: { $0.kid == kid }), rows[i].retiredAt == nil else { return false }
            rows[i].retiredAt = at
            rows[i].expiresAt = expiresAt
            return true
        }
    }

    public func purgeSigningKeys(expiredBy now: Date) throws -> Int {
        signingKeyRows.withLock { rows in
            let before = rows.count
            rows.removeAll { $0.expiresAt.map { $0 <= now } ?? false }
            return before - rows.count
        }
    }
}
