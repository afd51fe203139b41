import ArgumentParser
import Foundation

/// Settings shared by `authd serve`, `authd migrate` and `authd admin`. Each flag may instead be
/// given by the environment variable named in its help; a flag wins over the environment.
struct CommonOptions: ParsableArguments {
    @Flag(help: "Dev mode: use the private MariaDB of scripts/mariadb and dev TLS material and secret in .data/dev/ (made on first use).")
    var dev = false

    @Option(help: "The project's data folder for --dev (default: ./.data). [AUTHD_DATA_DIR]")
    var dataDir: String?

    // Database
    @Option(help: "MariaDB unix socket. [AUTH_DB_SOCKET]") var dbSocket: String?
    @Option(help: "MariaDB host (when no socket is given). [AUTH_DB_HOST]") var dbHost: String?
    @Option(help: "MariaDB port. [AUTH_DB_PORT]") var dbPort: Int?
    @Option(help: "MariaDB user. [AUTH_DB_USER]") var dbUser: String?
    @Option(help: "File holding the MariaDB password. [AUTH_DB_PASSWORD_FILE, or the password itself in AUTH_DB_PASSWORD]")
    var dbPasswordFile: String?
    @Option(help: "Database name. [AUTH_DB_NAME]") var dbName: String?
    @Option(help: "Database connections in the pool (default 8). [AUTHD_DB_POOL]") var dbPool: Int?
    @Option(help: "Seconds to wait for a database connection or statement (default 3). [AUTHD_DB_TIMEOUT]")
    var dbTimeout: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info). [AUTHD_LOG_LEVEL]")
    var logLevel: String?
    @Option(help: "Log format: text or json (default text). [AUTHD_LOG_FORMAT]") var logFormat: String?
}

/// Reads a setting: the flag's value, else the environment variable, else nil.
struct SettingSource {
    var environment: [String: String]

    func string(_ flag: String?, _ variable: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment[variable], !value.isEmpty { return value }
        return nil
    }

    func int(_ flag: Int?, _ variable: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        let resolved: Int
        if let flag { resolved = flag } else if let text = environment[variable], !text.isEmpty {
            guard let parsed = Int(text) else { throw ConfigurationError("\(variable) must be a whole number, not \(text.debugDescription)") }
            resolved = parsed
        } else { resolved = value }
        guard range.contains(resolved) else {
            throw ConfigurationError("\(variable.lowercased().replacingOccurrences(of: "_", with: "-")) must be within \(range.lowerBound)...\(range.upperBound), not \(resolved)")
        }
        return resolved
    }

    /// Reads a small secret file (password, JWT secret), trimmed of surrounding white space.
    /// Refuses files other users may read, and empty ones.
    static func readSecretFile(_ path: String, what: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw ConfigurationError("cannot read the \(what) file \(path): no such file or no permission")
        }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw ConfigurationError("the \(what) file \(path) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the \(what) file \(path)")
        }
        guard data.count <= 64 * 1024 else { throw ConfigurationError("the \(what) file \(path) is larger than 64 KiB") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ConfigurationError("the \(what) file \(path) is empty") }
        return text
    }
}
