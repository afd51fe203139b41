import AuthCore
import Foundation

/// A value bound to a statement parameter, or read from a result column.
enum SQLValue: Equatable {
    case int(Int64)
    case text(String)
    case bytes([UInt8])
    case null
}

/// A Swift value that can fill a statement parameter.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension SQLValue: SQLBindable { var sqlValue: SQLValue { self } }
extension Int64: SQLBindable { var sqlValue: SQLValue { .int(self) } }
extension Int: SQLBindable { var sqlValue: SQLValue { .int(Int64(self)) } }
extension Bool: SQLBindable { var sqlValue: SQLValue { .int(self ? 1 : 0) } }
extension String: SQLBindable { var sqlValue: SQLValue { .text(self) } }
extension [UInt8]: SQLBindable { var sqlValue: SQLValue { .bytes(self) } }
extension TokenID: SQLBindable { var sqlValue: SQLValue { .bytes(bytes) } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { map(\.sqlValue) ?? .null }
}

/// How times are stored: whole milliseconds (`…_ms` columns), or whole seconds for token expiries
/// (rounded up, so that a revocation never ends before the token it describes).
extension Date {
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
    var secondsSince1970RoundedUp: Int64 { Int64(timeIntervalSince1970.rounded(.up)) }
    init(millisecondsSince1970 ms: Int64) { self.init(timeIntervalSince1970: TimeInterval(ms) / 1000) }
}

/// A SQL statement and how its parameters are read from an input of type `Input`. Each `\(…)` in
/// the text is a parameter: it becomes a `?` placeholder and, at the same place, the reader that
/// fills it, so the values always match the placeholders in number and order.
///
///     static let userByID: Statement<Int64> = "SELECT email FROM users WHERE id = \(\.self)"
///     static let knownAddress: Statement<(userID: Int64, address: String)> =
///         "SELECT 1 FROM known_addresses WHERE user_id = \(\.userID) AND address = \(\.address)"
///
/// `\(sql: …)` splices SQL text of ours (a column list, an expression), never a value. A `?`
/// written into the text is refused when the statement is made.
struct Statement<Input>: ExpressibleByStringInterpolation, @unchecked Sendable {
    // @unchecked: immutable after init, and the readers are key paths and closures that capture
    // nothing mutable (they only read their input).

    /// The text sent to the server, with a `?` per parameter (the prepared-statement cache's key).
    let sql: String
    private let readers: [(Input) -> SQLValue]

    var parameterCount: Int { readers.count }

    /// The values to bind, in placeholder order.
    func values(_ input: Input) -> [SQLValue] { readers.map { $0(input) } }

    struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var readers: [(Input) -> SQLValue] = []

        init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount)
        }

        mutating func appendLiteral(_ literal: String) {
            sql += Statement.checked(literal)
        }

        /// A parameter: `\(\.email)`, or a closure for a value computed from the input.
        mutating func appendInterpolation<Value: SQLBindable>(_ read: @escaping (Input) -> Value) {
            sql += "?"
            readers.append { read($0).sqlValue }
        }

        /// SQL text of ours spliced in as is.
        mutating func appendInterpolation(sql fragment: String) {
            sql += Statement.checked(fragment)
        }
    }

    init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        readers = stringInterpolation.readers
    }

    init(stringLiteral value: String) {
        sql = Self.checked(value)
        readers = []
    }

    /// A statement of ours made at run time (a migration step), without parameters.
    init(verbatim sql: String) where Input == Void {
        self.init(stringLiteral: sql)
    }

    private static func checked(_ text: String) -> String {
        precondition(!text.contains("?"), "a statement's parameters are interpolated, never written as '?': \(text)")
        return text
    }
}
