import Foundation

/// A service account as stored: its client id (the name operators give it), the scopes it may
/// be granted, its secret as a keyed hash (`ServiceSecrets`), the previous secret's hash for the
/// grace after a rotation, and the client certificate bound to it (mTLS).
public struct ServiceAccountRecord: Sendable, Equatable {
    public var clientID: String
    public var scopes: [String]
    /// HMAC-SHA-256 of the secret under the server's secret-hash key; never the secret.
    public var secretHash: [UInt8]
    /// The secret replaced by the last rotation, accepted until `previousSecretValidUntil`.
    public var previousSecretHash: [UInt8]?
    public var previousSecretValidUntil: Date?
    /// The bound certificate's subject DN, as the transport gives it (`/CN=…/O=…`).
    public var certificateSubject: String?
    /// The bound certificate's URI subject alternative name (e.g. a SPIFFE ID).
    public var certificateURISAN: String?
    public var isDisabled: Bool
    public var createdAt: Date

    public init(clientID: String, scopes: [String], secretHash: [UInt8], previousSecretHash: [UInt8]? = nil,
                previousSecretValidUntil: Date? = nil, certificateSubject: String? = nil, certificateURISAN: String? = nil,
                isDisabled: Bool = false, createdAt: Date) {
        self.clientID = clientID
        self.scopes = scopes
        self.secretHash = secretHash
        self.previousSecretHash = previousSecretHash
        self.previousSecretValidUntil = previousSecretValidUntil
        self.certificateSubject = certificateSubject
        self.certificateURISAN = certificateURISAN
        self.isDisabled = isDisabled
        self.createdAt = createdAt
    }
}

/// A client certificate's identity as the transport extracted it from a verified certificate.
public struct CertificateIdentity: Sendable, Equatable, Hashable {
    public var subject: String?
    public var uriSAN: String?
    public init(subject: String?, uriSAN: String?) {
        self.subject = subject
        self.uriSAN = uriSAN
    }
    public var isEmpty: Bool { subject == nil && uriSAN == nil }
}

/// Where service accounts and users' roles are kept (besides `AuthStore`). Same rules as
/// `AuthStore`: synchronous, thread-safe, `StoreError`s; each method is one write.
public protocol ServiceAccountStore: Sendable {
    /// Inserts the account; false when the client id is taken.
    func createServiceAccount(_ account: ServiceAccountRecord) throws -> Bool
    func serviceAccount(clientID: String) throws -> ServiceAccountRecord?
    /// Every account, by client id.
    func serviceAccounts() throws -> [ServiceAccountRecord]
    /// The account bound to a certificate: by URI SAN first, else by subject DN.
    func serviceAccount(certificate: CertificateIdentity) throws -> ServiceAccountRecord?
    /// Replaces the secret's hash, keeping the old one valid until `previousValidUntil`. False
    /// when there is no such account.
    func replaceServiceSecret(clientID: String, hash: [UInt8], previousHash: [UInt8], previousValidUntil: Date) throws -> Bool
    /// Binds a certificate (replacing any earlier binding of the account). False when there is
    /// no such account; `.duplicate` when another account has that binding.
    func bindServiceCertificate(clientID: String, certificate: CertificateIdentity) throws -> Bool
    /// Disables (tokens issued at or before `cutoff` refused as disabled through the revocation
    /// feed, under the account's `ServiceIdentity.revocationKey`) or enables the account, as one
    /// write. False when there is no such account.
    func setServiceDisabled(clientID: String, disabled: Bool, cutoff: Int64, purgeAfter: Date) throws -> Bool
    /// Deletes the account and revokes its tokens issued at or before `cutoff` (through the feed),
    /// as one write. False when there is no such account.
    func deleteServiceAccount(clientID: String, cutoff: Int64, purgeAfter: Date) throws -> Bool

    /// Grants (or withdraws) a role; false when nothing changed.
    func setRole(userID: Int64, role: String, granted: Bool) throws -> Bool
    /// The user's roles, sorted.
    func roles(userID: Int64) throws -> [String]
}
