import AuthCore
import CMariaDB

/// A Swift value that can be read from a result column.
protocol SQLDecodable {
    /// The value, or nil when the column holds another type (or NULL where none is allowed).
    init?(sqlValue: SQLValue)
}

extension Int64: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard case .int(let v) = sqlValue else { return nil }
        self = v
    }
}
extension Bool: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard case .int(let v) = sqlValue else { return nil }
        self = v != 0
    }
}
extension String: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard case .text(let v) = sqlValue else { return nil }
        self = v
    }
}
extension [UInt8]: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard case .bytes(let v) = sqlValue else { return nil }
        self = v
    }
}
extension TokenID: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard case .bytes(let v) = sqlValue, let id = TokenID(bytes: v) else { return nil }
        self = id
    }
}
extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    init?(sqlValue: SQLValue) {
        if case .null = sqlValue {
            self = .none
        } else if let value = Wrapped(sqlValue: sqlValue) {
            self = value
        } else {
            return nil
        }
    }
}

/// One result row, read by column name with the type the caller asks for:
///
///     let email: String = try row["email"]
///     let usedAt: Int64? = try row["used_at_ms"]
///
/// Integer columns arrive as integers, binary columns (`BINARY`, `BLOB`) as bytes, the others as
/// text; asking for a column the statement does not select, or for the wrong type, is a
/// `StoreError` of kind `.failure` (the statement and its reader disagree).
struct Row {
    /// The result's column names (shared by its rows).
    let names: [String]
    let values: [SQLValue]

    subscript<Value: SQLDecodable>(_ name: String) -> Value {
        get throws(StoreError) {
            guard let index = names.firstIndex(of: name) else {
                throw StoreError(.failure, "no column \(name) in the result (columns: \(names.joined(separator: ", ")))")
            }
            guard let value = Value(sqlValue: values[index]) else {
                throw StoreError(.failure, "column \(name) is not a \(Value.self)")
            }
            return value
        }
    }
}

extension Row {
    /// How a result column is read: integer types as a 64-bit integer, the others as bytes
    /// (binary character set, `charsetnr` 63) or as text.
    private enum ColumnType { case int, bytes, text }

    /// Every row of an executed statement's result; nil when a fetch failed (the statement's
    /// error says why).
    static func fetchAll(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ metadata: UnsafeMutablePointer<MYSQL_RES>) -> [Row]? {
        let columns = Int(mysql_num_fields(metadata))
        // mysql_fetch_fields: the result's column descriptions, valid while `metadata` lives.
        let fields = UnsafeBufferPointer(start: mysql_fetch_fields(metadata), count: columns)
        let names = fields.map { String(cString: $0.name) }
        let types: [ColumnType] = fields.map { field in
            switch field.type {
            case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_INT24, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG: .int
            default: field.charsetnr == 63 ? .bytes : .text
            }
        }
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
            // Integers into an 8-byte signed integer (our integer columns are signed BIGINT or
            // smaller); everything else as bytes.
            binds[i].buffer_type = types[i] == .int ? MYSQL_TYPE_LONGLONG : MYSQL_TYPE_STRING
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
            if status == 1 { return nil }
            var values: [SQLValue] = []
            values.reserveCapacity(columns)
            for i in 0..<columns {
                if nulls[i] != 0 { values.append(.null); continue }
                if types[i] == .int {
                    values.append(.int(buffers[i].load(as: Int64.self)))
                    continue
                }
                let length = Int(lengths[i])
                let bytes: [UInt8]
                if length <= chunk {
                    bytes = Array(UnsafeRawBufferPointer(start: buffers[i], count: length))
                } else {
                    var whole = [UInt8](repeating: 0, count: length)
                    var bind = MYSQL_BIND()
                    var got: UInt = 0
                    // mysql_stmt_fetch_column: 0 on success, non-zero on error.
                    let fetched = whole.withUnsafeMutableBytes { w -> Int32 in
                        bind.buffer_type = MYSQL_TYPE_STRING
                        bind.buffer = w.baseAddress
                        bind.buffer_length = UInt(length)
                        return withUnsafeMutablePointer(to: &got) { g in
                            bind.length = g
                            return mysql_stmt_fetch_column(stmt, &bind, UInt32(i), 0)
                        }
                    }
                    guard fetched == 0 else { return nil }
                    bytes = whole
                }
                values.append(types[i] == .bytes ? .bytes(bytes) : .text(String(decoding: bytes, as: UTF8.self)))
            }
            rows.append(Row(names: names, values: values))
        }
        return rows
    }
}

/// What running a statement returned.
struct StatementResult {
    var rows: [Row] = []
    var affectedRows: UInt64 = 0
    var insertID: UInt64 = 0
}
