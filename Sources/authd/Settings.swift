import AuthCore
import Foundation
import Logging
import MariaDBStore
import RPCTransport
import Support

/// Everything authd needs, resolved from flags, the environment and (in dev mode) `.data/`.
struct Settings {
    var database: MariaDBConfiguration
    var logLevel: Logger.Level
    var logFormat: LogFormat

    /// Resolves the database and log settings shared by every subcommand.
    init(common: CommonOptions, environment env: [String: String]) throws {
        let source = SettingSource(environment: env)
        var devEnv: [String: String] = [:]
        if common.dev {
            let data = Settings.dataDirectory(common, env)
            devEnv = (try? String(contentsOfFile: data + "/mariadb.env", encoding: .utf8)).map(EnvFile.parse) ?? [:]
            if devEnv.isEmpty {
                throw ConfigurationError("--dev: no private MariaDB settings in \(data)/mariadb.env; run scripts/mariadb start (or scripts/run)")
            }
        }
        func value(_ flag: String?, _ variable: String) -> String? {
            source.string(flag, variable) ?? devEnv[variable]
        }
        var endpoints: [MariaDBConfiguration.Endpoint] = []
        if let hosts = value(common.dbHosts, "AUTH_DB_HOSTS") {
            do {
                endpoints = try HostPort.parseList(hosts).map { .init(host: $0.host, port: $0.port) }
            } catch {
                throw ConfigurationError("--db-hosts: \(error.description)")
            }
        } else if let socket = value(common.dbSocket, "AUTH_DB_SOCKET") {
            endpoints = [.init(socket: socket)]
        } else {
            let port = try value(common.dbPort.map(String.init), "AUTH_DB_PORT").map { text -> Int in
                guard let p = Int(text), (1...65535).contains(p) else { throw ConfigurationError("AUTH_DB_PORT: \(text) is not a port") }
                return p
            }
            endpoints = [.init(host: value(common.dbHost, "AUTH_DB_HOST") ?? "127.0.0.1", port: port ?? 3306)]
        }
        let password: String
        if let file = source.string(common.dbPasswordFile, "AUTH_DB_PASSWORD_FILE") {
            password = try SettingSource.readSecretFile(file, what: "database password")
        } else {
            password = env["AUTH_DB_PASSWORD"] ?? devEnv["AUTH_DB_PASSWORD"] ?? ""
        }
        let timeout = try source.int(common.dbTimeout, "AUTHD_DB_TIMEOUT", default: 3, range: 1...300)
        database = MariaDBConfiguration(
            endpoints: endpoints, user: value(common.dbUser, "AUTH_DB_USER") ?? "auth", password: password,
            database: value(common.dbName, "AUTH_DB_NAME") ?? "auth",
            poolSize: try source.int(common.dbPool, "AUTHD_DB_POOL", default: 8, range: 1...256),
            connectTimeout: timeout, readTimeout: timeout, writeTimeout: timeout)

        let levelText = source.string(common.logLevel, "AUTHD_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ConfigurationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = level
        let formatText = source.string(common.logFormat, "AUTHD_LOG_FORMAT") ?? "text"
        guard let format = LogFormat(rawValue: formatText) else { throw ConfigurationError("--log-format must be text or json") }
        logFormat = format
    }

    static func dataDirectory(_ common: CommonOptions, _ env: [String: String]) -> String {
        SettingSource(environment: env).string(common.dataDir, "AUTHD_DATA_DIR") ?? FileManager.default.currentDirectoryPath + "/.data"
    }
}

/// The settings of `authd serve`: the server, TLS and token settings on top of `Settings`.
struct ServeSettings {
    var server: ServerConfiguration
    var auth: AuthConfiguration
    var grace: Duration
    var databaseWait: Int
    var readyFile: String?

    init(common: CommonOptions, serve o: ServeOptions, environment env: [String: String]) throws {
        let source = SettingSource(environment: env)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var dev: DevMaterial?
        if common.dev {
            let material = DevMaterial(directory: URL(fileURLWithPath: Settings.dataDirectory(common, env) + "/dev"))
            try material.ensure()
            dev = material
        }

        // Listen address
        let listenText = source.string(o.listen, "AUTHD_LISTEN") ?? "127.0.0.1:7443"
        let listen: HostPort
        do { listen = try HostPort.parse(listenText, allowPortZero: true) } catch {
            throw ConfigurationError("--listen: \(error.description)")
        }

        // TLS
        guard let cert = source.string(o.tlsCert, "AUTHD_TLS_CERT") ?? dev?.certificatePath,
              let key = source.string(o.tlsKey, "AUTHD_TLS_KEY") ?? dev?.keyPath else {
            throw ConfigurationError("a TLS certificate and key are required: --tls-cert and --tls-key (or --dev)")
        }
        for (what, path) in [("certificate", cert), ("key", key)] where !FileManager.default.isReadableFile(atPath: path) {
            throw ConfigurationError("cannot read the TLS \(what) file \(path)")
        }
        let clientCA = source.string(o.tlsClientCa, "AUTHD_TLS_CLIENT_CA")
        let require = o.requireClientCert || env["AUTHD_REQUIRE_CLIENT_CERT"] == "1"
        if require && clientCA == nil { throw ConfigurationError("--require-client-cert needs --tls-client-ca") }
        if let clientCA, !FileManager.default.isReadableFile(atPath: clientCA) {
            throw ConfigurationError("cannot read the client CA file \(clientCA)")
        }
        let minimum: TLSConfiguration.MinimumVersion
        switch source.string(o.tlsMinVersion, "AUTHD_TLS_MIN_VERSION") ?? "1.3" {
        case "1.3": minimum = .tls13
        case "1.2": minimum = .tls12
        case let other: throw ConfigurationError("--tls-min-version must be 1.2 or 1.3, not \(other)")
        }
        let tls = TLSConfiguration.server(certificateChainFile: cert, privateKeyFile: key,
                                          clientCertificates: clientCA == nil ? .none : (require ? .required : .optional),
                                          trustRootsFile: clientCA, minimumVersion: minimum)

        var limits = ServerLimits()
        limits.maxConnections = try source.int(o.maxConnections, "AUTHD_MAX_CONNECTIONS", default: limits.maxConnections, range: 1...1_000_000)
        limits.maxCallsInFlightPerConnection = try source.int(o.maxCalls, "AUTHD_MAX_CALLS", default: limits.maxCallsInFlightPerConnection, range: 1...65_536)
        limits.maxFrameSize = try source.int(o.maxFrame, "AUTHD_MAX_FRAME", default: limits.maxFrameSize, range: 1024...(64 << 20))
        limits.workerQueueCapacity = try source.int(o.workerQueue, "AUTHD_WORKER_QUEUE", default: limits.workerQueueCapacity, range: 1...1_000_000)
        limits.idleTimeout = .seconds(try source.int(o.idleTimeout, "AUTHD_IDLE_TIMEOUT", default: 300, range: 1...86_400))
        limits.handshakeTimeout = .seconds(try source.int(o.handshakeTimeout, "AUTHD_HANDSHAKE_TIMEOUT", default: 10, range: 1...600))
        let busyPoll = try source.int(o.busyPoll, "AUTHD_BUSY_POLL_US", default: 0, range: 0...1_000_000)
        server = ServerConfiguration(
            host: listen.host, port: listen.port, tls: tls,
            ioThreads: try source.int(o.ioThreads, "AUTHD_IO_THREADS", default: max(1, cores), range: 1...64),
            workerThreads: try source.int(o.workers, "AUTHD_WORKERS", default: max(2, 2 * cores), range: 1...1024),
            limits: limits,
            busyPoll: busyPoll > 0 ? .microseconds(busyPoll) : nil)

        // Token keys: the active one, plus older ones that still verify.
        let kid = source.string(o.jwtKid, "AUTHD_JWT_KID") ?? "k1"
        let secret: String
        if let file = source.string(o.jwtSecretFile, "AUTHD_JWT_SECRET_FILE") {
            secret = try SettingSource.readSecretFile(file, what: "JWT secret")
        } else if let value = env["AUTHD_JWT_SECRET"], !value.isEmpty {
            secret = value
        } else if let dev {
            secret = try SettingSource.readSecretFile(dev.secretPath, what: "JWT secret")
        } else {
            throw ConfigurationError("no token secret: give --jwt-secret-file (or AUTHD_JWT_SECRET); only --dev makes one")
        }
        var keys: [String: [UInt8]] = [kid: Array(secret.utf8)]
        var verifyKeys = o.jwtVerifyKey
        if verifyKeys.isEmpty, let list = env["AUTHD_JWT_VERIFY_KEYS"] { verifyKeys = list.split(separator: ",").map(String.init) }
        for item in verifyKeys {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ConfigurationError("--jwt-verify-key must be KID=FILE, not \(item.debugDescription)")
            }
            let oldKid = String(item[..<eq])
            guard keys[oldKid] == nil else { throw ConfigurationError("key id \(oldKid) given twice") }
            keys[oldKid] = Array(try SettingSource.readSecretFile(String(item[item.index(after: eq)...]), what: "JWT verify key").utf8)
        }
        var auth = AuthConfiguration(signingKeys: keys, activeKeyID: kid,
                                     issuer: source.string(o.issuer, "AUTHD_ISSUER"),
                                     audience: source.string(o.audience, "AUTHD_AUDIENCE"))
        auth.accessTokenLifetime = TimeInterval(try source.int(o.accessTtl, "AUTHD_ACCESS_TTL", default: 900, range: 1...86_400))
        auth.refreshTokenLifetime = TimeInterval(try source.int(o.refreshTtl, "AUTHD_REFRESH_TTL", default: 14 * 86_400, range: 60...(366 * 86_400)))
        auth.leeway = TimeInterval(try source.int(o.leeway, "AUTHD_LEEWAY", default: 30, range: 0...600))
        auth.revocationPollInterval = TimeInterval(try source.int(o.revocationPollMs, "AUTHD_REVOCATION_POLL_MS", default: 500, range: 10...1000)) / 1000
        auth.passwordHashing = Argon2Parameters(
            memoryKiB: try source.int(o.argon2MemoryKib, "AUTHD_ARGON2_MEMORY_KIB", default: 19_456, range: 8...(4 << 20)),
            iterations: try source.int(o.argon2Iterations, "AUTHD_ARGON2_ITERATIONS", default: 2, range: 1...100))
        auth.passwordHashingConcurrency = try source.int(o.argon2Concurrency, "AUTHD_ARGON2_CONCURRENCY", default: cores, range: 1...1024)
        self.auth = try auth.validated()
        grace = .seconds(try source.int(o.grace, "AUTHD_GRACE", default: 10, range: 0...3600))
        databaseWait = try source.int(o.dbWait, "AUTHD_DB_WAIT", default: 30, range: 0...3600)
        readyFile = source.string(o.readyFile, "AUTHD_READY_FILE")
    }
}
