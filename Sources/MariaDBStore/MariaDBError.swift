import AuthCore

/// A MariaDB server or Connector/C client error number. The ones the store acts on are named
/// here; the rest keep their number.
public struct MariaDBErrorNumber: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }

    // The connection or the node is gone (client errors CR_…, then server errors ER_…).
    public static let connectionError = Self(2002)  // CR_CONNECTION_ERROR: unix socket unreachable
    public static let hostConnectionError = Self(2003)  // CR_CONN_HOST_ERROR: TCP connection refused
    public static let unknownHost = Self(2005)  // CR_UNKNOWN_HOST
    public static let serverGone = Self(2006)  // CR_SERVER_GONE_ERROR
    public static let serverLost = Self(2013)  // CR_SERVER_LOST
    public static let sslConnectionError = Self(2026)  // CR_SSL_CONNECTION_ERROR
    public static let serverLostExtended = Self(2055)  // CR_SERVER_LOST_EXTENDED
    public static let serverShutdown = Self(1053)  // ER_SERVER_SHUTDOWN
    public static let connectionKilled = Self(1927)  // ER_CONNECTION_KILLED
    /// ER_UNKNOWN_COM_ERROR, which Galera returns while a node is not ready for clients (joining,
    /// donating, or cut off from the primary component).
    public static let wsrepNotReady = Self(1047)
    public static let tooManyConnections = Self(1040)  // ER_CON_COUNT_ERROR
    public static let netReadError = Self(1158)  // ER_NET_READ_ERROR
    public static let netReadInterrupted = Self(1159)  // ER_NET_READ_INTERRUPTED
    public static let netWriteError = Self(1160)  // ER_NET_ERROR_ON_WRITE
    public static let netWriteInterrupted = Self(1161)  // ER_NET_WRITE_INTERRUPTED

    /// ER_LOCK_DEADLOCK: a deadlock, and also how Galera reports a certification conflict (a
    /// transaction that lost to one committed on another node). The transaction was rolled back.
    public static let deadlock = Self(1213)
    public static let lockWaitTimeout = Self(1205)  // ER_LOCK_WAIT_TIMEOUT
    /// ER_QUERY_INTERRUPTED: among others, how Galera aborts a schema change that collides with one
    /// replicated from another node (two instances migrating at once; `GET_LOCK` is per node).
    public static let queryInterrupted = Self(1317)

    public static let duplicateEntry = Self(1062)  // ER_DUP_ENTRY
    public static let duplicateEntryWithKeyName = Self(1586)  // ER_DUP_ENTRY_WITH_KEY_NAME
    /// ER_UNKNOWN_SYSTEM_VARIABLE: `@@wsrep_on` on a server built without wsrep.
    public static let unknownSystemVariable = Self(1193)

    /// The numbers that mean the connection or the node is gone: the connection is discarded.
    static let connectionLost: Set<Self> = [
        connectionError, hostConnectionError, unknownHost, serverGone, serverLost, sslConnectionError, serverLostExtended,
        serverShutdown, connectionKilled, wsrepNotReady, tooManyConnections,
        netReadError, netReadInterrupted, netWriteError, netWriteInterrupted,
    ]
    /// The numbers after which the whole transaction is rerun.
    static let conflict: Set<Self> = [deadlock, lockWaitTimeout]
    /// The numbers whose server message quotes a value of the statement (which may be a secret).
    static let duplicates: Set<Self> = [duplicateEntry, duplicateEntryWithKeyName]
    static let quotesAValue: Set<Self> = duplicates.union([Self(1366), Self(1292)])  // + ER_TRUNCATED_WRONG_VALUE_FOR_FIELD, ER_TRUNCATED_WRONG_VALUE
}

/// An error reported by Connector/C or the server: its number and message (`mysql_error`,
/// `mysql_stmt_error`), kept as the `cause` of a `StoreError` for the server log. A value the
/// server quotes in its message (a duplicate key, say) is left out: it may be a token hash.
public struct MariaDBError: Error, CustomStringConvertible {
    public var number: MariaDBErrorNumber
    public var message: String

    public init(number: MariaDBErrorNumber, message: String) {
        self.number = number
        self.message = MariaDBErrorNumber.quotesAValue.contains(number) ? Self.withoutQuotedValue(message) : message
    }

    public var description: String { "MariaDB error \(number): \(message)" }

    /// The kind of store failure this is.
    var kind: StoreError.Kind {
        if MariaDBErrorNumber.connectionLost.contains(number) { return .unavailable }
        if MariaDBErrorNumber.conflict.contains(number) { return .conflict }
        if MariaDBErrorNumber.duplicates.contains(number) { return .duplicate }
        return .failure
    }

    /// `Duplicate entry '<value>' for key 'users_email_key'` becomes `Duplicate entry '…' for key
    /// 'users_email_key'`: the first quoted span is the value (it may itself hold quotes, so it
    /// ends at the last `' for ` or `' at `).
    static func withoutQuotedValue(_ message: String) -> String {
        guard let open = message.firstIndex(of: "'") else { return message }
        let rest = message[message.index(after: open)...]
        guard let close = rest.range(of: "' for ", options: .backwards) ?? rest.range(of: "' at ", options: .backwards)
                ?? rest.range(of: "'", options: .backwards) else { return message }
        return String(message[..<open]) + "'…" + String(message[close.lowerBound...])
    }
}

extension StoreError {
    /// The store error for a driver error met while doing `what` (a phrase without values).
    init(_ what: String, _ cause: MariaDBError) {
        self.init(cause.kind, what, cause: cause)
    }
}
