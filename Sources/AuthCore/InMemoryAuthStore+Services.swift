import Foundation
import Support

/// Service accounts and roles in memory, for tests and single-process use. Cut-offs go through
/// the store's own revocation methods (under the account's revocation key), so the feed carries them.
extension InMemoryAuthStore: ServiceAccountStore {
    public func createServiceAccount(_ account: ServiceAccountRecord) throws -> Bool {
        serviceRows.withLock { s in
            guard s.accounts[account.clientID] == nil else { return false }
            s.accounts[account.clientID] = account
            return true
        }
    }

    public func serviceAccount(clientID: String) throws -> ServiceAccountRecord? { serviceRows.withLock { $0.accounts[clientID] } }

    public func serviceAccounts() throws -> [ServiceAccountRecord] {
        serviceRows.withLock { $0.accounts.values.sorted { $0.clientID < $1.clientID } }
    }

    public func serviceAccount(certificate: CertificateIdentity) throws -> ServiceAccountRecord? {
        serviceRows.withLock { s in
            if let uri = certificate.uriSAN, let a = s.accounts.values.first(where: { $0.certificateURISAN == uri }) { return a }
            guard let subject = certificate.subject else { return nil }
            return s.accounts.values.first { $0.certificateSubject == subject }
        }
    }

    public func replaceServiceSecret(clientID: String, hash: [UInt8], previousHash: [UInt8], previousValidUntil: Date) throws -> Bool {
        serviceRows.withLock { s in
            guard s.accounts[clientID] != nil else { return false }
            s.accounts[clientID]!.secretHash = hash
            s.accounts[clientID]!.previousSecretHash = previousHash
            s.accounts[clientID]!.previousSecretValidUntil = previousValidUntil
            return true
        }
    }

    public func bindServiceCertificate(clientID: String, certificate: CertificateIdentity) throws -> Bool {
        try serviceRows.withLock { s in
            guard s.accounts[clientID] != nil else { return false }
            let taken = s.accounts.values.contains { a in
                a.clientID != clientID && ((certificate.uriSAN != nil && a.certificateURISAN == certificate.uriSAN)
                                           || (certificate.subject != nil && a.certificateSubject == certificate.subject))
            }
            if taken { throw StoreError(.duplicate, "certificate bound to another service account") }
            s.accounts[clientID]!.certificateSubject = certificate.subject
            s.accounts[clientID]!.certificateURISAN = certificate.uriSAN
            return true
        }
    }

    public func setServiceDisabled(clientID: String, disabled: Bool, cutoff: Int64, purgeAfter: Date) throws -> Bool {
        let found = serviceRows.withLock { s -> Bool in
            guard s.accounts[clientID] != nil else { return false }
            s.accounts[clientID]!.isDisabled = disabled
            return true
        }
        // No user has a negative id: this records the disabled cut-off only.
        if found && disabled {
            try setDisabled(userID: ServiceIdentity.revocationKey(clientID), disabled: true, cutoff: cutoff, purgeAfter: purgeAfter)
        }
        return found
    }

    public func deleteServiceAccount(clientID: String, cutoff: Int64, purgeAfter: Date) throws -> Bool {
        guard serviceRows.withLock({ $0.accounts.removeValue(forKey: clientID) != nil }) else { return false }
        try setRevocationCutoff(userID: ServiceIdentity.revocationKey(clientID), cutoff: cutoff, purgeAfter: purgeAfter)
        return true
    }

    public func setRole(userID: Int64, role: String, granted: Bool) throws -> Bool {
        serviceRows.withLock { s in
            granted ? s.roles[userID, default: []].insert(role).inserted : s.roles[userID]?.remove(role) != nil
        }
    }

    public func roles(userID: Int64) throws -> [String] { serviceRows.withLock { ($0.roles[userID] ?? []).sorted() } }
}

/// The rows `InMemoryAuthStore+Services` keeps.
struct InMemoryServiceRows {
    var accounts: [String: ServiceAccountRecord] = [:]
    var roles: [Int64: Set<String>] = [:]
}
