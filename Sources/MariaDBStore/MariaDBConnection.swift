import AuthCore
import CMariaDB

/// A value bound to a statement parameter.
enum SQLValue {
    case int(Int64)
    case text(String)
    case bytes([UInt8])
    case null
}

/// One result row: every column as raw bytes (integers arrive as decimal text), nil for NULL.
struct Row {
    var columns: [[UInt8]?]

    func int(_ i: Int) -> Int64? { columns[i].flatMap { Int64(String(decoding: $0, as: UTF8.self)) } }
    func string(_ i: Int) -> String? { columns[i].map { String(decoding: $0, as: UTF8.self) } }
    func bytes(_ i: Int) -> [UInt8]? { columns[i] }
}

struct StatementResult {
    var rows: [Row] = []
    var affectedRows: UInt64 = 0
    var insertID: UInt64 = 0
}

/// One Connector/C connection and its prepared statements. Owned by one thread at a time (the
/// pool hands it out), so it needs no lock.
final class MariaDBConnection {
    private let mysql: UnsafeMutablePointer<MYSQL>
    private var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]
    /// Set when an error shows the connection is no longer usable; the pool then discards it.
    private(set) var isBroken = false
    let endpoint: MariaDBConfiguration.Endpoint

    /// Whether the server is a Galera node (`wsrep_on`); set once connected.
    private(set) var isGalera = false

    /// Opens a connection to the first endpoint that answers and, on Galera, is synced
    /// (`wsrep_ready`): a node that is joining, donating or cut off from the primary component is
    /// passed over like one that refuses the connection. `order` lists endpoint indices to try.
    static func connect(_ configuration: MariaDBConfiguration, order: [Int]? = nil,
                        failed: (Int) -> Void = { _ in }) throws -> MariaDBConnection {
        var lastError = ConnectFailure(error: StoreError(.unavailable, "no endpoint configured"))
        for index in order ?? Array(configuration.endpoints.indices) {
            do {
                let connection = try MariaDBConnection(configuration, configuration.endpoints[index])
                try connection.prepareSession(configuration)
                return connection
            } catch let e as ConnectFailure {
                lastError = e
                failed(index)
            }
        }
        throw lastError
    }

    /// Detects Galera; on a node refuses it unless ready, and turns on causal reads.
    private func prepareSession(_ c: MariaDBConfiguration) throws {
        do {
            // @@wsrep_on exists on every MariaDB built with wsrep (Debian's); error 1193 where not.
            let on: Int64
            do { on = try execute("SELECT @@wsrep_on").rows.first?.int(0) ?? 0 } catch let e as StoreError where e.number == 1193 { on = 0 }
            guard on == 1 else { return }
            isGalera = true
            let ready = try execute("SHOW STATUS LIKE 'wsrep_ready'").rows.first?.string(1)
            guard ready == "ON" else {
                throw ConnectFailure(error: StoreError(.unavailable, "\(endpoint): Galera node not ready (wsrep_ready=\(ready ?? "?"))", number: 1047))
            }
            if c.causalReads { try execute("SET SESSION wsrep_sync_wait = 1") }
        } catch let e as StoreError {
            throw ConnectFailure(error: StoreError(.unavailable, "\(endpoint): \(e.message)", number: e.number))
        }
    }

    private init(_ c: MariaDBConfiguration, _ endpoint: MariaDBConfiguration.Endpoint) throws {
        self.endpoint = endpoint
        // mysql_init returns NULL only when out of memory.
        guard let handle = mysql_init(nil) else { throw StoreError(.failure, "mysql_init: out of memory") }
        mysql = handle
        // mysql_options: 0 on success, non-zero for an unknown option (a bug of ours).
        precondition(CMariaDB_set_uint_option(handle, MYSQL_OPT_CONNECT_TIMEOUT, UInt32(c.connectTimeout)) == 0)
        precondition(CMariaDB_set_uint_option(handle, MYSQL_OPT_READ_TIMEOUT, UInt32(c.readTimeout)) == 0)
        precondition(CMariaDB_set_uint_option(handle, MYSQL_OPT_WRITE_TIMEOUT, UInt32(c.writeTimeout)) == 0)
        precondition(CMariaDB_set_bool_option(handle, MYSQL_OPT_RECONNECT, 0) == 0)  // the pool reconnects
        precondition(CMariaDB_set_string_option(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4") == 0)
        precondition(CMariaDB_set_string_option(handle, MYSQL_INIT_COMMAND,
                                                "SET SESSION time_zone = '+00:00', SESSION tx_isolation = 'READ-COMMITTED'") == 0)
        // mysql_real_connect: the handle on success, NULL on failure (mysql_error says why).
        let host = endpoint.socket == nil ? (endpoint.host ?? "127.0.0.1") : nil
        // CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, not only those it changed.
        let database = c.database.isEmpty ? nil : c.database
        guard mysql_real_connect(handle, host, c.user, c.password, database, UInt32(endpoint.port ?? 0),
                                 endpoint.socket, UInt(CLIENT_FOUND_ROWS)) != nil else {
            let error = MariaDBConnection.error(number: mysql_errno(handle), message: mysql_error(handle))
            // The handle is closed by deinit, which runs for an initialised object whose init throws.
            // A refused login or a missing database is a configuration problem, but to the
            // caller it is the same: the store cannot be used now.
            throw ConnectFailure(error: StoreError(.unavailable, "connect to \(endpoint): \(error.message)", number: error.number))
        }
    }

    deinit {
        for stmt in statements.values { mysql_stmt_close(stmt) }
        mysql_close(mysql)
    }

    /// Whether the server answers (mysql_ping: 0 when alive).
    func ping() -> Bool {
        let ok = mysql_ping(mysql) == 0
        if !ok { isBroken = true }
        return ok
    }

    /// Runs one statement (prepared once per connection, then reused) with bound parameters.
    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue] = []) throws -> StatementResult {
        let stmt = try prepared(sql)
        let paramCount = Int(mysql_stmt_param_count(stmt))
        precondition(paramCount == parameters.count, "statement expects \(paramCount) parameters, got \(parameters.count)")

        // Parameter buffers live until the statement has executed.
        var storage: [UnsafeMutableRawPointer] = []
        defer { storage.forEach { $0.deallocate() } }
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: parameters.count)
        for (i, value) in parameters.enumerated() {
            func put(_ bytes: [UInt8], _ type: enum_field_types) {
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
                bytes.withUnsafeBytes { if !$0.isEmpty { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                storage.append(buffer)
                binds[i].buffer = buffer
                binds[i].buffer_length = UInt(bytes.count)
                binds[i].length_value = UInt(bytes.count)
                binds[i].buffer_type = type
            }
            switch value {
            case .int(let v):
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
                buffer.storeBytes(of: v, as: Int64.self)
                storage.append(buffer)
                binds[i].buffer = buffer
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
            case .text(let s): put(Array(s.utf8), MYSQL_TYPE_STRING)
            case .bytes(let b): put(b, MYSQL_TYPE_BLOB)
            case .null: binds[i].buffer_type = MYSQL_TYPE_NULL
            }
        }
        // mysql_stmt_bind_param copies the bind array; 0 on success, non-zero for an unsupported type.
        if !binds.isEmpty {
            let rc = binds.withUnsafeMutableBufferPointer { mysql_stmt_bind_param(stmt, $0.baseAddress) }
            precondition(rc == 0, "mysql_stmt_bind_param rejected our binds")
        }
        // mysql_stmt_execute: 0 on success, non-zero on error (mysql_stmt_errno / mysql_stmt_error).
        guard mysql_stmt_execute(stmt) == 0 else { throw statementError(stmt) }
        var result = StatementResult()
        result.affectedRows = mysql_stmt_affected_rows(stmt)
        result.insertID = mysql_stmt_insert_id(stmt)
        guard let metadata = mysql_stmt_result_metadata(stmt) else { return result }
        defer {
            mysql_free_result(metadata)
            mysql_stmt_free_result(stmt)
        }
        result.rows = try fetchRows(stmt, columns: Int(mysql_num_fields(metadata)))
        return result
    }

    private func fetchRows(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, columns: Int) throws -> [Row] {
        let chunk = 256
        let buffers = (0..<columns).map { _ in UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 8) }
        let lengths = UnsafeMutablePointer<UInt>.allocate(capacity: max(columns, 1))
        let nulls = UnsafeMutablePointer<my_bool>.allocate(capacity: max(columns, 1))
        let errors = UnsafeMutablePointer<my_bool>.allocate(capacity: max(columns, 1))
        defer {
            buffers.forEach { $0.deallocate() }
            lengths.deallocate()
            nulls.deallocate()
            errors.deallocate()
        }
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: columns)
        for i in 0..<columns {
            binds[i].buffer_type = MYSQL_TYPE_STRING  // the client converts integers to decimal text
            binds[i].buffer = buffers[i]
            binds[i].buffer_length = UInt(chunk)
            binds[i].length = lengths + i
            binds[i].is_null = nulls + i
            binds[i].error = errors + i
        }
        // mysql_stmt_bind_result: 0 on success (copies the binds).
        let rc = binds.withUnsafeMutableBufferPointer { mysql_stmt_bind_result(stmt, $0.baseAddress) }
        precondition(rc == 0, "mysql_stmt_bind_result rejected our binds")
        var rows: [Row] = []
        while true {
            // mysql_stmt_fetch: 0 row, MYSQL_NO_DATA end, MYSQL_DATA_TRUNCATED a column longer
            // than its buffer (fetched whole below), 1 error.
            let status = mysql_stmt_fetch(stmt)
            if status == MYSQL_NO_DATA { break }
            if status == 1 { throw statementError(stmt) }
            var row = Row(columns: [])
            row.columns.reserveCapacity(columns)
            for i in 0..<columns {
                if nulls[i] != 0 { row.columns.append(nil); continue }
                let length = Int(lengths[i])
                if length <= chunk {
                    row.columns.append(Array(UnsafeRawBufferPointer(start: buffers[i], count: length)))
                } else {
                    var whole = [UInt8](repeating: 0, count: length)
                    var bind = MYSQL_BIND()
                    var got: UInt = 0
                    let fetched = whole.withUnsafeMutableBytes { w -> Int32 in
                        bind.buffer_type = MYSQL_TYPE_STRING
                        bind.buffer = w.baseAddress
                        bind.buffer_length = UInt(length)
                        return withUnsafeMutablePointer(to: &got) { g in
                            bind.length = g
                            return mysql_stmt_fetch_column(stmt, &bind, UInt32(i), 0)
                        }
                    }
                    guard fetched == 0 else { throw statementError(stmt) }
                    row.columns.append(whole)
                }
            }
            rows.append(row)
        }
        return rows
    }

    private func prepared(_ sql: String) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        if let stmt = statements[sql] { return stmt }
        // mysql_stmt_init: NULL only when out of memory.
        guard let stmt = mysql_stmt_init(mysql) else { throw StoreError(.failure, "mysql_stmt_init: out of memory") }
        // mysql_stmt_prepare: 0 on success; non-zero on a syntax error (ours) or a lost connection.
        let bytes = Array(sql.utf8)
        guard mysql_stmt_prepare(stmt, sql, UInt(bytes.count)) == 0 else {
            let error = statementError(stmt)
            mysql_stmt_close(stmt)
            throw error
        }
        statements[sql] = stmt
        return stmt
    }

    private func statementError(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) -> StoreError {
        var error = MariaDBConnection.error(number: mysql_stmt_errno(stmt), message: mysql_stmt_error(stmt))
        if error.number == 0 {
            // Some failures are recorded on the connection, not the statement.
            error = MariaDBConnection.error(number: mysql_errno(mysql), message: mysql_error(mysql))
        }
        if error.number == 0 {
            // A failure without a code (seen under Galera while a node rejoined): the connection's
            // state is unknown, so it is discarded; a write it carried was not committed unless
            // this was its COMMIT, which the caller then reports as of unknown outcome.
            error = StoreError(.unavailable, "statement failed without an error code")
        }
        if error.kind == .unavailable { isBroken = true }
        return error
    }

    /// Server and client error numbers that mean the connection or the node is gone.
    static let connectionErrors: Set<UInt32> = [
        2002, 2003, 2005, 2006, 2013, 2026, 2055,  // CR_CONNECTION_ERROR … CR_SERVER_LOST_EXTENDED
        1053, 1927, 1047, 1040, 1158, 1159, 1160, 1161,  // shutdown, killed, WSREP not ready, too many connections, net read/write errors
    ]
    /// Deadlock (also Galera's certification failure) and lock-wait timeout: retry the transaction.
    static let conflictErrors: Set<UInt32> = [1213, 1205]

    static func error(number: UInt32, message: UnsafePointer<CChar>?) -> StoreError {
        let text = message.map { String(cString: $0) } ?? ""
        if connectionErrors.contains(number) { return StoreError(.unavailable, text, number: number) }
        if conflictErrors.contains(number) { return StoreError(.conflict, text, number: number) }
        return StoreError(.failure, text, number: number)
    }
}

/// A connection could not be opened (so retrying at once on another would only wait again).
struct ConnectFailure: Error {
    var error: StoreError
}
