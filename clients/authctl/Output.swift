import Foundation
import RPCCore
import Support

/// Why a command failed, and the exit code it means:
/// 0 success, 1 the server refused, 2 usage error, 3 could not connect or TLS failed.
enum CLIError: Error {
    /// The server answered with a non-OK status (or refused a token in `validate`).
    case refused(code: String, message: String)
    /// The command line or local input is wrong.
    case usage(String)
    /// No connection: refused, unreachable, timed out, or the TLS handshake failed.
    case connection(String)
    /// A local failure (a file that cannot be written).
    case local(String)

    var exitCode: Int32 {
        switch self {
        case .refused, .local: 1
        case .usage: 2
        case .connection: 3
        }
    }

    var code: String {
        switch self {
        case .refused(let code, _): code
        case .usage: "USAGE"
        case .connection: "UNAVAILABLE"
        case .local: "LOCAL"
        }
    }

    var message: String {
        switch self {
        case .refused(_, let message), .usage(let message), .connection(let message), .local(let message): message
        }
    }
}

/// A JSON value with keys kept in the order given, so output is stable.
enum JSONValue {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case object([(String, JSONValue)])
    case array([JSONValue])
    case null

    var text: String {
        switch self {
        case .string(let s): return JSONText.quoted(s)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? String(format: "%.3f", d) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.map { JSONText.quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }
}

/// Writes results: text lines for people, or exactly one JSON object with `--json`.
struct Printer {
    var json: Bool

    /// Prints a command's result: `fields` as one JSON object, or `text` lines.
    func result(_ fields: [(String, JSONValue)], text: [String]) {
        if json {
            print(JSONValue.object(fields).text)
        } else {
            for line in text { print(line) }
        }
    }

    /// Reports a failure: `{"error":{"code":…,"message":…}}` on standard output with `--json`,
    /// else `authctl: CODE: message` on standard error.
    func failure(_ error: CLIError) {
        if json {
            print(JSONValue.object([("error", .object([("code", .string(error.code)), ("message", .string(error.message))]))]).text)
        } else {
            FileHandle.standardError.write(Data("authctl: \(error.code): \(error.message)\n".utf8))
        }
    }
}

/// Formats a Unix time as ISO 8601 (UTC) for text output.
func isoTime(_ seconds: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(Date.ISO8601FormatStyle())
}

/// Aligned `label: value` lines for text output.
enum Labels {
    static func lines(_ pairs: [(String, String)]) -> [String] {
        let width = (pairs.map(\.0.count).max() ?? 0) + 1
        return pairs.map { label, value in
            "  " + (label + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + " " + value
        }
    }

    /// "in 14 min", "2 s ago" — a time relative to now, for people.
    static func relative(_ seconds: Int64, now: Int64 = Int64(Date().timeIntervalSince1970)) -> String {
        let delta = seconds - now
        let magnitude = abs(delta)
        let amount: String
        switch magnitude {
        case ..<120: amount = "\(magnitude) s"
        case ..<7200: amount = "\(magnitude / 60) min"
        case ..<172_800: amount = "\(magnitude / 3600) h"
        default: amount = "\(magnitude / 86400) days"
        }
        return delta >= 0 ? "in \(amount)" : "\(amount) ago"
    }
}
