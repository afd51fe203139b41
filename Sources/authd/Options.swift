import ArgumentParser
import AuthCore
import AuthService
import Foundation

/// Settings shared by `authd serve`, `authd migrate` and `authd admin`. Each flag may instead be
/// given by the environment variable named in its help; a flag wins over the environment. Names,
/// defaults, ranges and help come from `SettingTable`.
struct CommonOptions: ParsableArguments {
    @Flag(help: "Dev mode: use the private MariaDB of scripts/mariadb and dev TLS material and secret in .data/dev/ (made on first use).")
    var dev = false

    @Option(SettingTable.dataDir) var dataDir: String?

    // Database
    @Option(SettingTable.dbSocket) var dbSocket: String?
    @Option(SettingTable.dbHost) var dbHost: String?
    @Option(SettingTable.dbPort) var dbPort: Int?
    @Option(SettingTable.dbUser) var dbUser: String?
    @Option(SettingTable.dbPasswordFile) var dbPasswordFile: String?
    @Option(SettingTable.dbName) var dbName: String?
    @Option(SettingTable.dbHosts) var dbHosts: String?
    @Option(SettingTable.dbTlsCa) var dbTlsCa: String?
    @Flag(name: .customLong(SettingTable.dbInsecure.flag), help: SettingTable.dbInsecure.help)
    var dbInsecure = false
    @Option(SettingTable.dbPool) var dbPool: Int?
    @Option(SettingTable.dbTimeout) var dbTimeout: Int?

    @Option(SettingTable.logLevel) var logLevel: LogLevel?
    @Option(SettingTable.logFormat) var logFormat: LogFormat?
}

/// Secret files: the database password, the token keys and the TLS private key.
enum SecretFile {
    /// Refuses a secret file that its group or other users may read or write (or that cannot be found).
    static func checkOwnerOnly(_ path: String, what: String) throws(ConfigurationError) {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw ConfigurationError("cannot read the \(what) file \(path): no such file or no permission")
        }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw ConfigurationError("the \(what) file \(path) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
        }
    }

    /// Reads a small secret file (password, JWT secret), trimmed of surrounding white space.
    /// Refuses files other users may read, and empty ones.
    static func read(_ path: String, what: String) throws -> String {
        try checkOwnerOnly(path, what: what)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the \(what) file \(path)")
        }
        guard data.count <= 64 * 1024 else { throw ConfigurationError("the \(what) file \(path) is larger than 64 KiB") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ConfigurationError("the \(what) file \(path) is empty") }
        return text
    }
}

/// Settings of `authd serve` beyond the common ones (see `SettingTable`).
struct ServeOptions: ParsableArguments {
    @Option(SettingTable.listen) var listen: String?

    // TLS
    @Option(SettingTable.tlsCert) var tlsCert: String?
    @Option(SettingTable.tlsKey) var tlsKey: String?
    @Option(SettingTable.tlsClientCa) var tlsClientCa: String?
    @Flag(name: .customLong(SettingTable.requireClientCert.flag), help: SettingTable.requireClientCert.help)
    var requireClientCert = false
    @Option(SettingTable.tlsMinVersion) var tlsMinVersion: TLSMinimumVersion?

    // Tokens
    @Option(SettingTable.jwtSecretFile) var jwtSecretFile: String?
    @Option(SettingTable.jwtKid) var jwtKid: String?
    @Option(name: .customLong(SettingTable.jwtVerifyKeys.flag), parsing: .singleValue, help: SettingTable.jwtVerifyKeys.help)
    var jwtVerifyKey: [String] = []
    @OptionGroup var keySet: KeySetOptions
    @Option(SettingTable.validationCacheEntries) var validationCacheEntries: Int?
    @Option(SettingTable.issuer) var issuer: String?
    @Option(SettingTable.audience) var audience: String?
    @Option(SettingTable.accessTtl) var accessTtl: Int?
    @Option(SettingTable.refreshTtl) var refreshTtl: Int?
    @Option(SettingTable.leeway) var leeway: Int?
    @Option(SettingTable.revocationPoll) var revocationPollMs: Int?
    @Option(SettingTable.revocationMaxStaleness) var revocationMaxStaleness: Int?
    @Option(SettingTable.sessionMaxAge) var sessionMaxAge: Int?

    // Service identities
    @Option(SettingTable.serviceTokenTtl) var serviceTokenTtl: Int?
    @OptionGroup var serviceSecrets: ServiceSecretOptions
    @Option(SettingTable.validateCallers) var validateCallers: ValidateCallers?

    // Passwords
    @OptionGroup var argon2: Argon2Options
    @Option(SettingTable.argon2Concurrency) var argon2Concurrency: Int?

    // Registration policy and throttling
    @Option(SettingTable.registration) var registration: RegistrationPolicy?
    @Option(SettingTable.registerLimitPerAddress) var registerLimitPerAddress: Int?
    @Option(SettingTable.registerLimitGlobal) var registerLimitGlobal: Int?
    @Option(SettingTable.registerWindow) var registerWindow: Int?

    // Threads and limits
    @Option(SettingTable.ioThreads) var ioThreads: Int?
    @Option(SettingTable.workers) var workers: Int?
    @Option(SettingTable.busyPoll) var busyPoll: Int?
    @Option(SettingTable.workerQueue) var workerQueue: Int?
    @Option(SettingTable.maxConnections) var maxConnections: Int?
    @Option(SettingTable.maxConnectionsPerAddress) var maxConnectionsPerAddress: Int?
    @Option(SettingTable.trustedProxies) var trustedProxy: String?
    @Option(SettingTable.maxCalls) var maxCalls: Int?
    @Option(SettingTable.maxFrame) var maxFrame: Int?
    @Option(SettingTable.maxMessage) var maxMessage: Int?
    @Option(SettingTable.maxBlockingCalls) var maxBlockingCalls: Int?
    @Option(SettingTable.maxQueuedBytes) var maxQueuedBytes: Int?
    @Option(SettingTable.frameTimeout) var frameTimeout: Int?
    @Option(SettingTable.idleTimeout) var idleTimeout: Int?
    @Option(SettingTable.handshakeTimeout) var handshakeTimeout: Int?
    @Option(SettingTable.grace) var grace: Int?
    @Option(SettingTable.dbWait) var dbWait: Int?
    @Option(SettingTable.readyFile) var readyFile: String?
    @Option(SettingTable.pidFile) var pidFile: String?
    @Option(SettingTable.metricsListen) var metricsListen: String?
    @Flag(name: .customLong(SettingTable.accessLog.flag), help: SettingTable.accessLog.help)
    var accessLog = false
}

/// The argon2id cost, shared by `authd serve` and `authd hash-time`.
struct Argon2Options: ParsableArguments {
    @Option(SettingTable.argon2MemoryKib) var argon2MemoryKib: Int?
    @Option(SettingTable.argon2Iterations) var argon2Iterations: Int?

    /// The parameters these flags, the environment and the defaults give.
    func parameters(environment: [String: String]) throws(ConfigurationError) -> Argon2Parameters {
        Argon2Parameters(memoryKiB: try SettingTable.argon2MemoryKib.resolve(flag: argon2MemoryKib, environment: environment),
                         iterations: try SettingTable.argon2Iterations.resolve(flag: argon2Iterations, environment: environment))
    }
}

/// The key-set settings, shared by `authd serve` and `authd keys`.
struct KeySetOptions: ParsableArguments {
    @Option(SettingTable.jwtAlg) var jwtAlg: TokenAlgorithm?
    @Option(SettingTable.keyEncryptionKeyFile) var keyEncryptionKeyFile: String?
    @Option(SettingTable.keyPublishLead) var keyPublishLead: Int?

    /// The key set's configuration, or nil when no key set is used (no key-encryption key and not
    /// --dev). `dev` supplies the key-encryption key and a short lead when the settings give none.
    func configuration(dev: DevMaterial?, environment env: [String: String]) throws -> KeySetConfiguration? {
        typealias T = SettingTable
        let file = try T.keyEncryptionKeyFile.resolveIfGiven(flag: keyEncryptionKeyFile, environment: env) ?? dev?.keyEncryptionKeyPath
        let algorithm = try T.jwtAlg.resolveIfGiven(flag: jwtAlg, environment: env)
        guard let file else {
            if algorithm == .eddsa {
                throw ConfigurationError("--jwt-alg EdDSA needs a key set: give --key-encryption-key-file (docs/keys.md)")
            }
            return nil
        }
        let encryptionKey = try KeyEncryptionKey(base64: try SecretFile.read(file, what: "key-encryption key"))
        let lead = try T.keyPublishLead.resolveIfGiven(flag: keyPublishLead.map { .seconds($0) }, environment: env)
            ?? (dev == nil ? AuthConfiguration.Bounds.keyPublishLead.default : .seconds(5))
        return KeySetConfiguration(encryptionKey: encryptionKey, signingAlgorithm: algorithm ?? .eddsa, publishLead: lead)
    }
}

extension TokenAlgorithm: ExpressibleByArgument {}
extension RegistrationPolicy: ExpressibleByArgument {}
extension ValidateCallers: ExpressibleByArgument {}

/// The secret grace, shared by `authd serve` and `authd admin service rotate-secret` (which applies it).
struct ServiceSecretOptions: ParsableArguments {
    @Option(SettingTable.serviceSecretGrace) var serviceSecretGrace: Int?

    func grace(environment: [String: String]) throws(ConfigurationError) -> Duration {
        try SettingTable.serviceSecretGrace.resolve(flag: serviceSecretGrace, environment: environment)
    }
}
