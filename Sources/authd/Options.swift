import ArgumentParser
import AuthCore
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
    @Option(help: "Several MariaDB servers (Galera nodes) as host:port,host:port; tried in order, with fail-over. [AUTH_DB_HOSTS]")
    var dbHosts: String?
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
        let resolved: Int, origin: String
        if let flag { resolved = flag; origin = SettingSource.flagName(variable) } else if let text = environment[variable], !text.isEmpty {
            guard let parsed = Int(text) else { throw ConfigurationError("\(variable) must be a whole number, not \(text.debugDescription)") }
            resolved = parsed
            origin = variable
        } else { resolved = value; origin = SettingSource.flagName(variable) }
        guard range.contains(resolved) else {
            throw ConfigurationError("\(origin) must be within \(range.lowerBound)...\(range.upperBound), not \(resolved)")
        }
        return resolved
    }

    /// The flag that goes with an environment variable: `AUTHD_ACCESS_TTL` -> `--access-ttl`.
    static func flagName(_ variable: String) -> String {
        var name = Substring(variable)
        for prefix in ["AUTHD_", "AUTH_"] where name.hasPrefix(prefix) { name = name.dropFirst(prefix.count); break }
        return "--" + name.lowercased().replacingOccurrences(of: "_", with: "-")
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

/// Settings of `authd serve` beyond the common ones.
struct ServeOptions: ParsableArguments {
    @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:7443). [AUTHD_LISTEN]") var listen: String?

    // TLS
    @Option(help: "PEM certificate chain of the server. [AUTHD_TLS_CERT]") var tlsCert: String?
    @Option(help: "PEM private key of the server. [AUTHD_TLS_KEY]") var tlsKey: String?
    @Option(help: "PEM CA file that client certificates must chain to; enables mTLS (optional unless --require-client-cert). [AUTHD_TLS_CLIENT_CA]")
    var tlsClientCa: String?
    @Flag(help: "Refuse clients without a certificate signed by --tls-client-ca. [AUTHD_REQUIRE_CLIENT_CERT=1]")
    var requireClientCert = false
    @Option(help: "Lowest TLS version accepted: 1.3 (default) or 1.2. [AUTHD_TLS_MIN_VERSION]") var tlsMinVersion: String?

    // Tokens
    @Option(help: "File with the HS256 signing secret (at least 32 bytes; mode 0600). [AUTHD_JWT_SECRET_FILE, or the secret itself in AUTHD_JWT_SECRET]")
    var jwtSecretFile: String?
    @Option(help: "Key id (kid) of the signing secret (default k1). [AUTHD_JWT_KID]") var jwtKid: String?
    @Option(parsing: .singleValue, help: "An older key that still verifies, as KID=FILE; repeat for several (key rotation). [AUTHD_JWT_VERIFY_KEYS=kid=file,kid=file]")
    var jwtVerifyKey: [String] = []
    @Option(help: "The iss claim to issue and require. [AUTHD_ISSUER]") var issuer: String?
    @Option(help: "The aud claim to issue and require. [AUTHD_AUDIENCE]") var audience: String?
    @Option(help: "Access-token lifetime in seconds (default 900). [AUTHD_ACCESS_TTL]") var accessTtl: Int?
    @Option(help: "Refresh-token lifetime in seconds (default 1209600, 14 days). [AUTHD_REFRESH_TTL]") var refreshTtl: Int?
    @Option(help: "Clock leeway for exp/nbf in seconds (default 30). [AUTHD_LEEWAY]") var leeway: Int?
    @Option(help: "Milliseconds between polls of new revocations (default 500; the bound for a logout to reach every instance). [AUTHD_REVOCATION_POLL_MS]")
    var revocationPollMs: Int?

    // Passwords
    @Option(help: "argon2id memory in KiB (default 19456). [AUTHD_ARGON2_MEMORY_KIB]") var argon2MemoryKib: Int?
    @Option(help: "argon2id iterations (default 2). [AUTHD_ARGON2_ITERATIONS]") var argon2Iterations: Int?
    @Option(help: "argon2id hashes at once at most; more logins wait for a turn (default: the number of cores). [AUTHD_ARGON2_CONCURRENCY]")
    var argon2Concurrency: Int?

    // Threads and limits
    @Option(help: "I/O threads (default: the number of cores). [AUTHD_IO_THREADS]") var ioThreads: Int?
    @Option(help: "Worker threads for blocking calls (default 2 x cores). [AUTHD_WORKERS]") var workers: Int?
    @Option(help: "Microseconds an idle I/O thread polls without sleeping before it sleeps (default 0: off). Saves the thread wake-up on each request of a lightly loaded server, for up to a core of CPU per I/O thread. [AUTHD_BUSY_POLL_US]")
    var busyPoll: Int?
    @Option(help: "Blocking calls queued at most before RESOURCE_EXHAUSTED (default 1024). [AUTHD_WORKER_QUEUE]") var workerQueue: Int?
    @Option(help: "Connections at most (default 10000). [AUTHD_MAX_CONNECTIONS]") var maxConnections: Int?
    @Option(help: "Calls in flight per connection at most (default 128). [AUTHD_MAX_CALLS]") var maxCalls: Int?
    @Option(help: "Largest frame in bytes (default 4194304). [AUTHD_MAX_FRAME]") var maxFrame: Int?
    @Option(help: "Seconds a connection may stay without calls (default 300). [AUTHD_IDLE_TIMEOUT]") var idleTimeout: Int?
    @Option(help: "Seconds a TLS handshake may take (default 10). [AUTHD_HANDSHAKE_TIMEOUT]") var handshakeTimeout: Int?
    @Option(help: "Seconds in-flight calls get to finish on SIGTERM/SIGINT (default 10). [AUTHD_GRACE]") var grace: Int?
    @Option(help: "Seconds to keep retrying an unreachable database at start (default 30). [AUTHD_DB_WAIT]") var dbWait: Int?
    @Option(help: "Once listening, write HOST:PORT (the bound port, useful with --listen 127.0.0.1:0) to this file. [AUTHD_READY_FILE]")
    var readyFile: String?
}
