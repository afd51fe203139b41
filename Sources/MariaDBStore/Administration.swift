import AuthCore
import Foundation

/// What operators and health checks use: administrator rights, the audit trail, the health probe.
extension MariaDBStore {
    public func isHealthy() -> Bool {
        guard let c = try? pool.checkOut() else { return false }
        defer { pool.checkIn(c) }
        return c.ping()
    }

    public func setAdmin(emailKey: String, admin: Bool) throws(StoreError) -> Bool {
        try run(.write) { c in try c.execute(SQL.setAdmin, (emailKey, admin)).affectedRows > 0 }
    }

    public func appendAudit(_ e: AuditEvent) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.insertAudit, e) }
    }

    public func appendAudit(_ e: AuditEvent, aggregate: [UInt8]) throws(StoreError) {
        try run(.write) { c in try c.execute(SQL.insertAggregatedAudit, (e, aggregate)) }
    }

    /// The newest first. Rows of an event kind this version does not know are left out.
    public func auditEvents(userID: Int64?, limit: Int) throws(StoreError) -> [AuditEvent] {
        try run(.read) { c in
            let rows = if let userID {
                try c.execute(SQL.auditEventsOfUser, (userID, limit)).rows
            } else {
                try c.execute(SQL.auditEvents, limit).rows
            }
            return try rows.compactMap { row in try AuditEvent(row: row) }
        }
    }
}

/// Database-level operations for set-up and tests: create and drop a database by name.
public enum MariaDBAdministration {
    /// Creates database `name` (letters, digits and `_` only) with utf8mb4; connects without a default database.
    public static func createDatabase(_ name: String, using configuration: MariaDBConfiguration) throws(StoreError) {
        try run("CREATE DATABASE IF NOT EXISTS `\(try checked(name))` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", configuration)
    }

    public static func dropDatabase(_ name: String, using configuration: MariaDBConfiguration) throws(StoreError) {
        try run("DROP DATABASE IF EXISTS `\(try checked(name))`", configuration)
    }

    private static func checked(_ name: String) throws(StoreError) -> String {
        guard !name.isEmpty, name.count <= 64, name.utf8.allSatisfy({ $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) }) else {
            throw StoreError(.failure, "database names are letters, digits and _ only")
        }
        return name
    }

    private static func run(_ sql: String, _ configuration: MariaDBConfiguration) throws(StoreError) {
        var c = configuration
        c.database = ""
        try MariaDBConnection.connect(c).execute(Statement(verbatim: sql))
    }
}
