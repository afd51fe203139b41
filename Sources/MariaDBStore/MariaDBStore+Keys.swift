import AuthCore
import Foundation

/// The key set (table `signing_keys`, migration 5): read whole by every instance each poll (a
/// handful of rows), written by `authd keys …` and by a first start.
extension MariaDBStore: SigningKeyStore {
    public func insertSigningKey(_ key: SigningKeyRecord) throws {
        try run(.write) { c in try c.execute(KeySQL.insert, key) }
    }

    public func signingKeys() throws -> [SigningKeyRecord] {
        try run(.read) { c in
            try c.execute(KeySQL.all).rows.compactMap { row -> SigningKeyRecord? in
                // A key of an algorithm this version does not know is left out.
                guard let alg = TokenAlgorithm(rawValue: try row["alg"]) else { return nil }
                let retired: Int64? = try row["retired_at_ms"]
                let expires: Int64? = try row["expires_ms"]
                return SigningKeyRecord(kid: try row["kid"], algorithm: alg, publicKey: try row["public_key"],
                                        sealedPrivateKey: try row["sealed_private_key"],
                                        createdAt: Date(millisecondsSince1970: try row["created_ms"]),
                                        signsFrom: Date(millisecondsSince1970: try row["not_before_signing_ms"]),
                                        retiredAt: retired.map(Date.init(millisecondsSince1970:)),
                                        expiresAt: expires.map(Date.init(millisecondsSince1970:)))
            }
        }
    }

    public func retireSigningKey(kid: String, at: Date, expiresAt: Date) throws -> Bool {
        try run(.write) { c in try c.execute(KeySQL.retire, (kid, at, expiresAt)).affectedRows > 0 }
    }

    public func purgeSigningKeys(expiredBy now: Date) throws -> Int {
        try run(.write) { c in Int(try c.execute(KeySQL.purge, now.millisecondsSince1970).affectedRows) }
    }
}

/// The key set's statements.
enum KeySQL {
    static let insert: Statement<SigningKeyRecord> = """
        INSERT INTO signing_keys (kid, alg, public_key, sealed_private_key, created_ms, not_before_signing_ms, retired_at_ms, expires_ms)
        VALUES (\(\.kid), \(\.algorithm.rawValue), \(\.publicKey), \(\.sealedPrivateKey), \(\.createdAt.millisecondsSince1970),
                \(\.signsFrom.millisecondsSince1970), \(\.retiredAt?.millisecondsSince1970), \(\.expiresAt?.millisecondsSince1970))
        """
    static let all: Statement<Void> = """
        SELECT kid, alg, public_key, sealed_private_key, created_ms, not_before_signing_ms, retired_at_ms, expires_ms
        FROM signing_keys ORDER BY created_ms, kid
        """
    static let retire: Statement<(kid: String, at: Date, expiresAt: Date)> = """
        UPDATE signing_keys SET retired_at_ms = \(\.at.millisecondsSince1970), expires_ms = \(\.expiresAt.millisecondsSince1970)
        WHERE kid = \(\.kid) AND retired_at_ms IS NULL
        """
    static let purge: Statement<Int64> = "DELETE FROM signing_keys WHERE expires_ms IS NOT NULL AND expires_ms <= \(\.self)"
}
