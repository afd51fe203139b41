import ArgumentParser
import AuthCore
import AuthService
import Foundation
import Logging
import MariaDBStore
import RPCTransport
import Support

/// The lowest TLS version authd accepts, as `--tls-min-version` spells it.
enum TLSMinimumVersion: String, CaseIterable, Sendable, ExpressibleByArgument {
    case tls12 = "1.2"
    case tls13 = "1.3"

    var transport: TLSConfiguration.MinimumVersion {
        switch self {
        case .tls12: .tls12
        case .tls13: .tls13
        }
    }
}

/// Everything authd needs, resolved from flags, the environment and (in dev mode) `.data/`.
struct Settings {
    var database: MariaDBConfiguration
    var logLevel: Logger.Level
    var logFormat: LogFormat

    /// Resolves the database and log settings shared by every subcommand.
    init(common: CommonOptions, environment env: [String: String]) throws {
        typealias T = SettingTable
        // In dev mode the private MariaDB's settings (.data/mariadb.env) fill in the database
        // settings the environment leaves unset.
        var dbEnv = env
        if common.dev {
            let data = Settings.dataDirectory(common, env)
            let devEnv = (try? String(contentsOfFile: data + "/mariadb.env", encoding: .utf8)).map(EnvFile.parse) ?? [:]
            if devEnv.isEmpty {
                throw ConfigurationError("--dev: no private MariaDB settings in \(data)/mariadb.env; run scripts/mariadb start (or scripts/run)")
            }
            dbEnv.merge(devEnv) { process, dev in process.isEmpty ? dev : process }
        }
        var endpoints: [MariaDBConfiguration.Endpoint] = []
        if let hosts = try T.dbHosts.resolveIfGiven(flag: common.dbHosts, environment: dbEnv) {
            do {
                endpoints = try HostPort.parseList(hosts).map { .init(host: $0.host, port: $0.port) }
            } catch {
                throw ConfigurationError("--db-hosts: \(error.description)")
            }
        } else if let socket = try T.dbSocket.resolveIfGiven(flag: common.dbSocket, environment: dbEnv) {
            endpoints = [.init(socket: socket)]
        } else {
            endpoints = [.init(host: try T.dbHost.resolve(flag: common.dbHost, environment: dbEnv),
                               port: try T.dbPort.resolve(flag: common.dbPort, environment: dbEnv))]
        }
        let password: String
        if let file = try T.dbPasswordFile.resolveIfGiven(flag: common.dbPasswordFile, environment: env) {
            password = try SecretFile.read(file, what: "database password")
        } else {
            password = dbEnv[T.dbPasswordVariable] ?? ""
        }
        // Connector/C takes whole seconds.
        let timeout = Int(try T.dbTimeout.resolve(flag: common.dbTimeout, environment: env).components.seconds)
        database = MariaDBConfiguration(
            endpoints: endpoints, user: try T.dbUser.resolve(flag: common.dbUser, environment: dbEnv), password: password,
            database: try T.dbName.resolve(flag: common.dbName, environment: dbEnv),
            poolSize: try T.dbPool.resolve(flag: common.dbPool, environment: env),
            connectTimeout: timeout, readTimeout: timeout, writeTimeout: timeout)
        if let ca = try T.dbTlsCa.resolveIfGiven(flag: common.dbTlsCa, environment: dbEnv) {
            guard FileManager.default.isReadableFile(atPath: ca) else {
                throw ConfigurationError("cannot read the database CA file \(ca)")
            }
            database.tcpSecurity = .verifiedTLS(certificateAuthorityFile: ca)
        }
        let remote = database.plaintextRemoteEndpoints.map(\.description).joined(separator: ", ")
        if !remote.isEmpty, !(try T.dbInsecure.resolve(flag: common.dbInsecure, environment: dbEnv)) {
            throw ConfigurationError("plaintext TCP to the database host \(remote), which is not loopback: give --db-tls-ca "
                                     + "(TLS with a verified certificate), or --db-insecure to allow plaintext")
        }

        logLevel = try T.logLevel.resolve(flag: common.logLevel, environment: env).level
        logFormat = try T.logFormat.resolve(flag: common.logFormat, environment: env)
    }

    static func dataDirectory(_ common: CommonOptions, _ env: [String: String]) -> String {
        dataDirectory(flag: common.dataDir, env)
    }

    static func dataDirectory(flag: String?, _ env: [String: String]) -> String {
        (try? SettingTable.dataDir.resolveIfGiven(flag: flag, environment: env)) ?? nil
            ?? FileManager.default.currentDirectoryPath + "/.data"
    }
}

/// The settings of `authd serve`: the server, TLS and token settings on top of `Settings`.
struct ServeSettings {
    var server: ServerConfiguration
    var auth: AuthConfiguration
    var grace: Duration
    var databaseWait: Duration
    var readyFile: String?
    /// Where the process id goes (and, beside it, each reload's outcome), for `authd reload`.
    var pidFile: String?
    /// `--access-log`: one log line per call.
    var accessLog: Bool
    /// `--validate-callers`.
    var validateCallers: ValidateCallers

    init(common: CommonOptions, serve o: ServeOptions, environment env: [String: String]) throws {
        typealias T = SettingTable
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let dev = try common.dev ? devMaterial(common, env) : nil

        // Listen address
        let listenText = try T.listen.resolve(flag: o.listen, environment: env)
        let listen: HostPort
        do { listen = try HostPort.parse(listenText, allowPortZero: true) } catch {
            throw ConfigurationError("--listen: \(error.description)")
        }

        // TLS
        guard let cert = try T.tlsCert.resolveIfGiven(flag: o.tlsCert, environment: env) ?? dev?.certificatePath,
              let key = try T.tlsKey.resolveIfGiven(flag: o.tlsKey, environment: env) ?? dev?.keyPath else {
            throw ConfigurationError("a TLS certificate and key are required: --tls-cert and --tls-key (or --dev)")
        }
        let clientCA = try T.tlsClientCa.resolveIfGiven(flag: o.tlsClientCa, environment: env)
        let require = try T.requireClientCert.resolve(flag: o.requireClientCert, environment: env)
        if require && clientCA == nil { throw ConfigurationError("--require-client-cert needs --tls-client-ca") }
        let minimum = try T.tlsMinVersion.resolve(flag: o.tlsMinVersion, environment: env)
        let tls = TLSConfiguration.server(certificateChainFile: cert, privateKeyFile: key,
                                          clientCertificates: clientCA == nil ? .none : (require ? .required : .optional),
                                          trustRootsFile: clientCA, minimumVersion: minimum.transport)
        try Self.checkTLSFiles(tls)

        var limits = ServerLimits()
        limits.maxConnections = try T.maxConnections.resolve(flag: o.maxConnections, environment: env)
        limits.maxConnectionsPerAddress = try T.maxConnectionsPerAddress.resolve(flag: o.maxConnectionsPerAddress, environment: env)
        var trustedProxies: [IPNetwork] = []
        if let text = try T.trustedProxies.resolveIfGiven(flag: o.trustedProxy, environment: env) {
            do { trustedProxies = try IPNetwork.parseList(text) } catch {
                throw ConfigurationError("--trusted-proxy: \(error.description)")
            }
        }
        limits.maxCallsInFlightPerConnection = try T.maxCalls.resolve(flag: o.maxCalls, environment: env)
        limits.maxFrameSize = try T.maxFrame.resolve(flag: o.maxFrame, environment: env)
        limits.maxDecompressedSize = try T.maxMessage.resolve(flag: o.maxMessage, environment: env)
        limits.maxBlockingCallsPerConnection = try T.maxBlockingCalls.resolve(flag: o.maxBlockingCalls, environment: env)
        limits.maxQueuedRequestBytes = try T.maxQueuedBytes.resolve(flag: o.maxQueuedBytes, environment: env)
        limits.frameTimeout = try T.frameTimeout.resolve(flag: o.frameTimeout, environment: env)
        limits.workerQueueCapacity = try T.workerQueue.resolve(flag: o.workerQueue, environment: env)
        limits.idleTimeout = try T.idleTimeout.resolve(flag: o.idleTimeout, environment: env)
        limits.handshakeTimeout = try T.handshakeTimeout.resolve(flag: o.handshakeTimeout, environment: env)
        let busyPoll = try T.busyPoll.resolve(flag: o.busyPoll, environment: env)
        var metricsListen: HostPort?
        if let text = try T.metricsListen.resolveIfGiven(flag: o.metricsListen, environment: env) {
            do { metricsListen = try HostPort.parse(text, allowPortZero: true) } catch {
                throw ConfigurationError("--metrics-listen: \(error.description)")
            }
        }
        server = ServerConfiguration(
            host: listen.host, port: listen.port, tls: tls,
            ioThreads: try T.ioThreads.resolve(flag: o.ioThreads, environment: env, default: max(1, cores)),
            workerThreads: try T.workers.resolve(flag: o.workers, environment: env, default: max(2, 2 * cores)),
            limits: limits,
            busyPoll: busyPoll > .zero ? busyPoll : nil,
            trustedProxies: trustedProxies, metricsListen: metricsListen)

        // Token keys: the active one, plus older ones that still verify.
        let kid = try T.jwtKid.resolve(flag: o.jwtKid, environment: env)
        let keySet = try o.keySet.configuration(dev: dev, environment: env)
        let secret: String?
        if let file = try T.jwtSecretFile.resolveIfGiven(flag: o.jwtSecretFile, environment: env) {
            secret = try SecretFile.read(file, what: "JWT secret")
        } else if let value = env[T.jwtSecretVariable], !value.isEmpty {
            secret = value
        } else if let dev {
            secret = try SecretFile.read(dev.secretPath, what: "JWT secret")
        } else if keySet != nil {
            secret = nil
        } else {
            throw ConfigurationError("no token secret: give --jwt-secret-file (or \(T.jwtSecretVariable)), "
                                     + "or a key set with --key-encryption-key-file; only --dev makes one")
        }
        var keys: [String: [UInt8]] = secret.map { [kid: Array($0.utf8)] } ?? [:]
        var verifyKeys = o.jwtVerifyKey
        if verifyKeys.isEmpty, let list = try T.jwtVerifyKeys.resolveIfGiven(flag: nil, environment: env) {
            verifyKeys = list.split(separator: ",").map(String.init)
        }
        for item in verifyKeys {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ConfigurationError("--jwt-verify-key must be KID=FILE, not \(item.debugDescription)")
            }
            let oldKid = String(item[..<eq])
            guard keys[oldKid] == nil else { throw ConfigurationError("key id \(oldKid) given twice") }
            keys[oldKid] = Array(try SecretFile.read(String(item[item.index(after: eq)...]), what: "JWT verify key").utf8)
        }
        // With a key set the secrets above only verify (tokens issued before the switch), and the
        // key set signs; without one they work exactly as before.
        var auth = AuthConfiguration(signingKeys: keys, activeKeyID: kid,
                                     issuer: try T.issuer.resolveIfGiven(flag: o.issuer, environment: env),
                                     audience: try T.audience.resolveIfGiven(flag: o.audience, environment: env))
        auth.keySet = keySet
        auth.validationCacheCapacity = try T.validationCacheEntries.resolve(flag: o.validationCacheEntries, environment: env)
        auth.accessTokenLifetime = try T.accessTtl.resolve(flag: o.accessTtl, environment: env)
        auth.refreshTokenLifetime = try T.refreshTtl.resolve(flag: o.refreshTtl, environment: env)
        auth.leeway = try T.leeway.resolve(flag: o.leeway, environment: env)
        auth.revocationPollInterval = try T.revocationPoll.resolve(flag: o.revocationPollMs, environment: env)
        auth.revocationMaxStaleness = try T.revocationMaxStaleness.resolve(flag: o.revocationMaxStaleness, environment: env)
        auth.sessionMaxAge = try T.sessionMaxAge.resolve(flag: o.sessionMaxAge, environment: env)
        auth.serviceTokenLifetime = try T.serviceTokenTtl.resolve(flag: o.serviceTokenTtl, environment: env)
        auth.serviceSecretGrace = try o.serviceSecrets.grace(environment: env)
        auth.serviceSecretKey = keySet?.encryptionKey
        validateCallers = try T.validateCallers.resolve(flag: o.validateCallers, environment: env)
        auth.followServiceBindings = validateCallers == .authenticated
        auth.passwordHashing = try o.argon2.parameters(environment: env)
        auth.passwordHashingConcurrency = try T.argon2Concurrency.resolve(flag: o.argon2Concurrency, environment: env, default: cores)
        auth.registration = try T.registration.resolve(flag: o.registration, environment: env)
        auth.throttle.registerAddressLimit = try T.registerLimitPerAddress.resolve(flag: o.registerLimitPerAddress, environment: env)
        auth.throttle.registerGlobalLimit = try T.registerLimitGlobal.resolve(flag: o.registerLimitGlobal, environment: env)
        auth.throttle.registerWindow = try T.registerWindow.resolve(flag: o.registerWindow, environment: env)
        self.auth = try auth.validated()
        grace = try T.grace.resolve(flag: o.grace, environment: env)
        databaseWait = try T.dbWait.resolve(flag: o.dbWait, environment: env)
        readyFile = try T.readyFile.resolveIfGiven(flag: o.readyFile, environment: env)
        accessLog = try T.accessLog.resolve(flag: o.accessLog, environment: env)
        pidFile = try T.pidFile.resolveIfGiven(flag: o.pidFile, environment: env)
            ?? (common.dev ? Settings.dataDirectory(common, env) + "/authd.pid" : nil)
    }

    /// The checks the TLS files pass at start and again on every reload: all readable, the
    /// private key readable by its owner only.
    static func checkTLSFiles(_ tls: TLSConfiguration) throws(ConfigurationError) {
        let files = [("certificate", tls.certificateChainFile), ("key", tls.privateKeyFile), ("client CA", tls.trustRootsFile)]
        for case let (what, path?) in files where !FileManager.default.isReadableFile(atPath: path) {
            throw ConfigurationError("cannot read the TLS \(what) file \(path)")
        }
        if let key = tls.privateKeyFile { try SecretFile.checkOwnerOnly(key, what: "TLS private key") }
    }
}
