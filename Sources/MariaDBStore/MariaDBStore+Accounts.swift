import AuthCore
import Foundation

/// Accounts and sessions: listing users and sessions, ending sessions, password replacement and
/// reset codes, disabling and deleting users, and the audit trail a page at a time.
extension MariaDBStore {
    public func users(emailKeyPrefix: String, afterEmailKey: String?, limit: Int) throws(StoreError) -> [UserRecord] {
        try run(.read) { c in
            try c.execute(SQL.usersPage, (Self.likePrefix(emailKeyPrefix), afterEmailKey ?? "", limit)).rows.map(UserRecord.init(row:))
        }
    }

    public func sessions(userID: Int64, now: Date) throws(StoreError) -> [SessionRecord] {
        try run(.read) { c in
            try c.execute(SQL.sessionsOfUser, (userID, now)).rows.map { row in
                SessionRecord(id: try row["family_id"], createdAt: Date(millisecondsSince1970: try row["created_ms"]),
                              lastRefreshedAt: Date(millisecondsSince1970: try row["issued_at_ms"]),
                              clientAddress: try row["client_address"])
            }
        }
    }

    public func revokeSessions(userID: Int64, only: TokenID?, times: SessionRevocation.Times) throws(StoreError) -> [TokenID] {
        try run(.write) { c in try Self.revokeSessions(userID: userID, only: only, times: times, on: c) }
    }

    /// Each family's session row is written, then its refresh tokens deleted (as `revokeSession`),
    /// after locking the user's refresh tokens.
    private static func revokeSessions(userID: Int64, only: TokenID?, times: SessionRevocation.Times,
                                       on c: MariaDBConnection) throws(StoreError) -> [TokenID] {
        let rows = if let only {
            try c.execute(SQL.familyOfUser, (userID, only)).rows
        } else {
            try c.execute(SQL.familiesOfUser, userID).rows
        }
        var families: [TokenID] = []
        for row in rows {
            let family: TokenID = try row["family_id"]
            try c.execute(SQL.revokeSession, SessionRevocation(session: family, userID: userID, times: times))
            try c.execute(SQL.deleteRefreshFamily, family)
            families.append(family)
        }
        return families
    }

    public func replacePassword(userID: Int64, hash: String, resetCodeHash: [UInt8]?, now: Date,
                                times: SessionRevocation.Times) throws(StoreError) -> [TokenID]? {
        try run(.write) { c -> [TokenID]? in
            if let resetCodeHash {
                guard let row = try c.execute(SQL.resetCodeForUpdate, userID).rows.first,
                      try row["code_hash"] as [UInt8] == resetCodeHash,
                      try row["expires_ms"] as Int64 > now.millisecondsSince1970 else { return nil }
                try c.execute(SQL.deleteResetCode, userID)
            }
            try c.execute(SQL.updatePasswordHash, (userID, hash))
            return try Self.revokeSessions(userID: userID, only: nil, times: times, on: c)
        }
    }

    public func setDisabled(userID: Int64, disabled: Bool, cutoff: Int64, purgeAfter: Date) throws(StoreError) {
        try run(.write) { c in
            try c.execute(SQL.setDisabled, (userID, disabled))
            if disabled { try c.execute(SQL.setDisabledCutoff, (userID, cutoff, purgeAfter)) }
        }
    }

    public func deleteUser(userID: Int64, times: SessionRevocation.Times) throws(StoreError) -> [TokenID] {
        try run(.write) { c in
            let ended = try Self.revokeSessions(userID: userID, only: nil, times: times, on: c)
            try c.execute(SQL.deleteUser, userID)
            try c.execute(ServiceSQL.deleteRoles, userID)
            try c.execute(SQL.deleteKnownAddresses, userID)
            try c.execute(SQL.deleteResetCode, userID)
            try c.execute(SQL.forgetAuditEmail, userID)
            return ended
        }
    }

    public func setResetCode(userID: Int64, hash: [UInt8], expiresAt: Date) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.setResetCode, (userID, hash, expiresAt)) }
    }

    public func resetCode(userID: Int64) throws(StoreError) -> (hash: [UInt8], expiresAt: Date)? {
        try run(.read) { c -> (hash: [UInt8], expiresAt: Date)? in
            guard let row = try c.execute(SQL.resetCode, userID).rows.first else { return nil }
            return (try row["code_hash"] as [UInt8], Date(millisecondsSince1970: try row["expires_ms"]))
        }
    }

    public func auditEvents(_ q: AuditQuery) throws(StoreError) -> [(id: Int64, event: AuditEvent)] {
        try run(.read) { c in
            let rows = try c.execute(SQL.auditPage, (q.userID ?? 0, q.kind?.rawValue ?? "", q.since?.millisecondsSince1970 ?? 0,
                                                     q.before ?? Int64.max, q.limit)).rows
            return try rows.compactMap { row -> (id: Int64, event: AuditEvent)? in
                guard let event = try AuditEvent(row: row) else { return nil }
                return (try row["id"], event)
            }
        }
    }

    /// A LIKE pattern matching keys that start with `prefix` (its `%`, `_` and `\` escaped).
    static func likePrefix(_ prefix: String) -> String {
        var out = ""
        for ch in prefix {
            if ch == "%" || ch == "_" || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out + "%"
    }
}

extension AuditEvent {
    /// A row of the audit statements; nil for an event kind this version does not know.
    init?(row: Row) throws(StoreError) {
        guard let kind = AuditEvent.Kind(rawValue: try row["event"]) else { return nil }
        self.init(at: Date(millisecondsSince1970: try row["at_ms"]), kind: kind, userID: try row["user_id"],
                  email: try row["email"], clientAddress: try row["client_address"], detail: try row["detail"],
                  count: Int(try row["repeats"] as Int64))
    }
}
