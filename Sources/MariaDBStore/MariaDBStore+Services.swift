import AuthCore
import Foundation

/// Service accounts and users' roles (tables `service_accounts` and `user_roles`, migration 7).
/// A disabled or deleted account's cut-off goes into `user_token_cutoffs` under its
/// `ServiceIdentity.revocationKey` (negative, never a user id) in the same transaction, so every
/// instance's revocation feed carries it like a user's.
extension MariaDBStore: ServiceAccountStore {
    public func createServiceAccount(_ account: ServiceAccountRecord) throws -> Bool {
        try run(.write) { c in try Self.insertServiceAccount(account, on: c) }
    }

    /// Inserts the account; false when the client id is taken (the failed insert changes nothing).
    private static func insertServiceAccount(_ account: ServiceAccountRecord, on c: MariaDBConnection) throws(StoreError) -> Bool {
        do {
            _ = try c.execute(ServiceSQL.insert, account)
            return true
        } catch where error.kind == .duplicate {
            return false
        }
    }

    public func serviceAccount(clientID: String) throws -> ServiceAccountRecord? {
        try run(.read) { c in try c.execute(ServiceSQL.byClientID, clientID).rows.first.map(ServiceAccountRecord.init(row:)) }
    }

    public func serviceAccounts() throws -> [ServiceAccountRecord] {
        try run(.read) { c in try c.execute(ServiceSQL.all).rows.map(ServiceAccountRecord.init(row:)) }
    }

    public func serviceAccount(certificate: CertificateIdentity) throws -> ServiceAccountRecord? {
        try run(.read) { c -> ServiceAccountRecord? in
            if let uri = certificate.uriSAN, let row = try c.execute(ServiceSQL.byURISAN, uri).rows.first {
                return try ServiceAccountRecord(row: row)
            }
            guard let subject = certificate.subject else { return nil }
            return try c.execute(ServiceSQL.bySubject, subject).rows.first.map(ServiceAccountRecord.init(row:))
        }
    }

    public func replaceServiceSecret(clientID: String, hash: [UInt8], previousHash: [UInt8], previousValidUntil: Date) throws -> Bool {
        try run(.write) { c in
            try c.execute(ServiceSQL.replaceSecret, (clientID, hash, previousHash, previousValidUntil)).affectedRows > 0
        }
    }

    public func bindServiceCertificate(clientID: String, certificate: CertificateIdentity) throws -> Bool {
        try run(.write) { c in
            try c.execute(ServiceSQL.bind, (clientID, certificate.subject, certificate.uriSAN)).affectedRows > 0
        }
    }

    public func setServiceDisabled(clientID: String, disabled: Bool, cutoff: Int64, purgeAfter: Date) throws -> Bool {
        try run(.write) { c in
            guard try c.execute(ServiceSQL.setDisabled, (clientID, disabled)).affectedRows > 0 else { return false }
            if disabled {
                try c.execute(SQL.setDisabledCutoff, (ServiceIdentity.revocationKey(clientID), cutoff, purgeAfter))
            }
            return true
        }
    }

    public func deleteServiceAccount(clientID: String, cutoff: Int64, purgeAfter: Date) throws -> Bool {
        try run(.write) { c in
            guard try c.execute(ServiceSQL.delete, clientID).affectedRows > 0 else { return false }
            try c.execute(SQL.setRevocationCutoff, (ServiceIdentity.revocationKey(clientID), cutoff, purgeAfter))
            return true
        }
    }

    public func setRole(userID: Int64, role: String, granted: Bool) throws -> Bool {
        try run(.write) { c in
            try c.execute(granted ? ServiceSQL.grantRole : ServiceSQL.revokeRole, (userID, role)).affectedRows > 0
        }
    }

    public func roles(userID: Int64) throws -> [String] {
        try run(.read) { c in try c.execute(ServiceSQL.roles, userID).rows.map { try $0["role"] as String } }
    }
}

extension ServiceAccountRecord {
    init(row: Row) throws(StoreError) {
        let scopes: String = try row["scopes"]
        let until: Int64? = try row["previous_valid_until_ms"]
        self.init(clientID: try row["client_id"], scopes: scopes.split(separator: " ").map(String.init),
                  secretHash: try row["secret_hash"], previousSecretHash: try row["previous_secret_hash"],
                  previousSecretValidUntil: until.map(Date.init(millisecondsSince1970:)),
                  certificateSubject: try row["cert_subject"], certificateURISAN: try row["cert_uri_san"],
                  isDisabled: try row["disabled"], createdAt: Date(millisecondsSince1970: try row["created_ms"]))
    }
}

/// The statements on service accounts and roles.
enum ServiceSQL {
    static let columns = """
        client_id, scopes, secret_hash, previous_secret_hash, previous_valid_until_ms, cert_subject, cert_uri_san, disabled, created_ms
        """
    static let insert: Statement<ServiceAccountRecord> = """
        INSERT INTO service_accounts (client_id, scopes, secret_hash, created_ms)
        VALUES (\(\.clientID), \(\.scopeText), \(\.secretHash), \(\.createdAt.millisecondsSince1970))
        """
    static let byClientID: Statement<String> = "SELECT \(sql: columns) FROM service_accounts WHERE client_id = \(\.self)"
    static let bySubject: Statement<String> = "SELECT \(sql: columns) FROM service_accounts WHERE cert_subject = \(\.self)"
    static let byURISAN: Statement<String> = "SELECT \(sql: columns) FROM service_accounts WHERE cert_uri_san = \(\.self)"
    static let all: Statement<Void> = "SELECT \(sql: columns) FROM service_accounts ORDER BY client_id"
    static let replaceSecret: Statement<(clientID: String, hash: [UInt8], previous: [UInt8], until: Date)> = """
        UPDATE service_accounts SET secret_hash = \(\.hash), previous_secret_hash = \(\.previous),
            previous_valid_until_ms = \(\.until.millisecondsSince1970)
        WHERE client_id = \(\.clientID)
        """
    static let bind: Statement<(clientID: String, subject: String?, uriSAN: String?)> = """
        UPDATE service_accounts SET cert_subject = \(\.subject), cert_uri_san = \(\.uriSAN) WHERE client_id = \(\.clientID)
        """
    static let setDisabled: Statement<(clientID: String, disabled: Bool)> =
        "UPDATE service_accounts SET disabled = \(\.disabled) WHERE client_id = \(\.clientID)"
    static let delete: Statement<String> = "DELETE FROM service_accounts WHERE client_id = \(\.self)"
    static let grantRole: Statement<(userID: Int64, role: String)> =
        "INSERT IGNORE INTO user_roles (user_id, role) VALUES (\(\.userID), \(\.role))"
    static let revokeRole: Statement<(userID: Int64, role: String)> =
        "DELETE FROM user_roles WHERE user_id = \(\.userID) AND role = \(\.role)"
    static let deleteRoles: Statement<Int64> = "DELETE FROM user_roles WHERE user_id = \(\.self)"
    static let roles: Statement<Int64> = "SELECT role FROM user_roles WHERE user_id = \(\.self) ORDER BY role"
}

extension ServiceAccountRecord {
    /// The scopes as stored: space-separated.
    var scopeText: String { scopes.joined(separator: " ") }
}
