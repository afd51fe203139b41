import AuthCore
import CMariaDB

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
    /// Throws the last endpoint's error, of kind `.unavailable`.
    static func connect(_ configuration: MariaDBConfiguration, order: [Int]? = nil,
                        failed: (Int) -> Void = { _ in }) throws(StoreError) -> MariaDBConnection {
        var lastError = StoreError(.unavailable, "no endpoint configured")
        for index in order ?? Array(configuration.endpoints.indices) {
            do {
                let connection = try MariaDBConnection(configuration, configuration.endpoints[index])
                try connection.prepareSession(configuration)
                return connection
            } catch {
                lastError = error
                failed(index)
            }
        }
        throw lastError
    }

    /// Detects Galera; on a node refuses it unless ready, and turns on causal reads. Any failure
    /// here makes the endpoint unusable now: `.unavailable`.
    private func prepareSession(_ c: MariaDBConfiguration) throws(StoreError) {
        do throws(StoreError) {
            // @@wsrep_on exists on every MariaDB built with wsrep (Debian's); an error where not.
            let on: Int64
            do throws(StoreError) {
                on = try execute(SQL.wsrepOn).rows.first?["wsrep_on"] ?? 0
            } catch let error where (error.cause as? MariaDBError)?.number == .unknownSystemVariable {
                on = 0
            }
            guard on == 1 else { return }
            isGalera = true
            let ready: String? = try execute(SQL.wsrepReady).rows.first?["Value"]
            guard ready == "ON" else {
                throw StoreError(.unavailable, "Galera node not ready (wsrep_ready=\(ready ?? "?"))")
            }
            if c.causalReads { try execute(SQL.causalReads) }
        } catch {
            throw StoreError(.unavailable, "\(endpoint): \(error.message)", cause: error.cause)
        }
    }

    private init(_ c: MariaDBConfiguration, _ endpoint: MariaDBConfiguration.Endpoint) throws(StoreError) {
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
        if endpoint.socket == nil, case .verifiedTLS(let caFile) = c.tcpSecurity {
            // TLS or no connection (SSL_ENFORCE); the certificate checked against caFile, and
            // its name against the host (VERIFY_SERVER_CERT, Connector/C's X509_check_host/_ip).
            precondition(CMariaDB_set_string_option(handle, MYSQL_OPT_SSL_CA, caFile) == 0)
            precondition(CMariaDB_set_bool_option(handle, MYSQL_OPT_SSL_ENFORCE, 1) == 0)
            precondition(CMariaDB_set_bool_option(handle, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, 1) == 0)
            precondition(CMariaDB_set_string_option(handle, MARIADB_OPT_TLS_VERSION, "TLSv1.2,TLSv1.3") == 0)
        }
        // mysql_real_connect: the handle on success, NULL on failure (mysql_error says why; a TLS
        // failure is CR_SSL_CONNECTION_ERROR with OpenSSL's reason).
        let host = endpoint.socket == nil ? (endpoint.host ?? "127.0.0.1") : nil
        // CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, not only those it changed.
        let database = c.database.isEmpty ? nil : c.database
        guard mysql_real_connect(handle, host, c.user, c.password, database, UInt32(endpoint.port ?? 0),
                                 endpoint.socket, UInt(CLIENT_FOUND_ROWS)) != nil else {
            let cause = MariaDBError(number: MariaDBErrorNumber(mysql_errno(handle)), message: String(cString: mysql_error(handle)))
            // The handle is closed by deinit, which runs for an initialised object whose init throws.
            // A refused login or a missing database is a configuration problem, but to the
            // caller it is the same: the store cannot be used now.
            throw StoreError(.unavailable, "connect to \(endpoint)", cause: cause)
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

    /// Runs a statement without parameters.
    @discardableResult
    func execute(_ statement: Statement<Void>) throws(StoreError) -> StatementResult {
        try execute(statement, ())
    }

    /// Runs one statement (prepared once per connection, then reused) with its parameters read
    /// from `input`.
    @discardableResult
    func execute<Input>(_ statement: Statement<Input>, _ input: Input) throws(StoreError) -> StatementResult {
        let stmt = try prepared(statement)
        let parameters = statement.values(input)

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
        guard mysql_stmt_execute(stmt) == 0 else { throw statementError(stmt, statement.sql) }
        var result = StatementResult()
        result.affectedRows = mysql_stmt_affected_rows(stmt)
        result.insertID = mysql_stmt_insert_id(stmt)
        guard let metadata = mysql_stmt_result_metadata(stmt) else { return result }
        defer {
            mysql_free_result(metadata)
            mysql_stmt_free_result(stmt)
        }
        guard let rows = Row.fetchAll(stmt, metadata) else { throw statementError(stmt, statement.sql) }
        result.rows = rows
        return result
    }

    private func prepared<Input>(_ statement: Statement<Input>) throws(StoreError) -> UnsafeMutablePointer<MYSQL_STMT> {
        if let stmt = statements[statement.sql] { return stmt }
        // mysql_stmt_init: NULL only when out of memory.
        guard let stmt = mysql_stmt_init(mysql) else { throw StoreError(.failure, "mysql_stmt_init: out of memory") }
        // mysql_stmt_prepare: 0 on success; non-zero on a syntax error (ours) or a lost connection.
        let bytes = Array(statement.sql.utf8)
        guard mysql_stmt_prepare(stmt, statement.sql, UInt(bytes.count)) == 0 else {
            let error = statementError(stmt, statement.sql)
            mysql_stmt_close(stmt)
            throw error
        }
        // The server counts the placeholders too: it must agree with the statement's parameters.
        let placeholders = Int(mysql_stmt_param_count(stmt))
        precondition(placeholders == statement.parameterCount,
                     "the server sees \(placeholders) placeholders, the statement binds \(statement.parameterCount)")
        statements[statement.sql] = stmt
        return stmt
    }

    /// The error of a failed statement: kind from the error number, the driver's message as the cause.
    private func statementError(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ sql: String) -> StoreError {
        var number = mysql_stmt_errno(stmt)
        var message = String(cString: mysql_stmt_error(stmt))
        if number == 0 {
            // Some failures are recorded on the connection, not the statement.
            number = mysql_errno(mysql)
            message = String(cString: mysql_error(mysql))
        }
        let error: StoreError
        if number == 0 {
            // A failure without a code (seen under Galera while a node rejoined): the connection's
            // state is unknown, so it is discarded; a write it carried was not committed unless
            // this was its COMMIT, which the caller then reports as of unknown outcome.
            error = StoreError(.unavailable, "\(Self.summary(sql)): failed without an error code")
        } else {
            error = StoreError(Self.summary(sql), MariaDBError(number: MariaDBErrorNumber(number), message: message))
        }
        if error.kind == .unavailable { isBroken = true }
        return error
    }

    /// The start of a statement's text, to say which one failed (its values are bound, never in it).
    static func summary(_ sql: String) -> String {
        let words = sql.split(whereSeparator: \.isWhitespace)
        let head = words.prefix(6).joined(separator: " ")
        return words.count > 6 ? head + " …" : head
    }
}
