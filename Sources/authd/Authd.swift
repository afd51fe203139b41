import ArgumentParser
import AuthCore
import AuthService
import Foundation
import Logging
import MariaDBStore
import RPCTransport

/// The authentication server and its operator commands.
@main
struct Authd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authd",
        abstract: "The authentication server: registers users, logs them in, issues and validates JWTs over TLS RPC.",
        discussion: """
            Every flag may instead come from the environment variable named in its help; a flag wins.

            Exit status: 0 after a clean stop; 1 when start-up fails (database unreachable past --db-wait, port in use); 64 for a malformed command line; 78 for bad configuration (a missing secret or certificate, a value out of range).

            Examples:
              authd --dev                                   # dev mode: private MariaDB, .data/dev/ TLS + secret
              authd serve --listen 0.0.0.0:7443 --tls-cert cert.pem --tls-key key.pem \\
                    --jwt-secret-file /etc/authd/jwt.secret --db-host db1 --db-password-file /etc/authd/db.pw
              authd migrate --dev
              authd admin grant alice@example.com --dev
              authd reload --dev                            # re-read the TLS files (or: kill -HUP)
              authd keys generate --dev                     # rotate the token signing key (docs/keys.md)
            """,
        subcommands: [Serve.self, Migrate.self, Admin.self, Keys.self, HashTime.self, Reload.self],
        defaultSubcommand: Serve.self)
}

/// Turns a configuration problem into its message and exit status 78 (EX_CONFIG).
func exitForConfiguration(_ error: ConfigurationError) -> ExitCode {
    FileHandle.standardError.write(Data("authd: configuration error: \(error.description)\n".utf8))
    return ExitCode(78)
}

/// Opens the store, retrying an unreachable database with backoff for up to `wait` seconds,
/// and applies the migrations (under a named lock, so instances starting together do not race).
func openStore(_ configuration: MariaDBConfiguration, wait: Int, logger: Logger) throws -> MariaDBStore {
    let store = MariaDBStore(configuration: configuration)
    let deadline = Date().addingTimeInterval(TimeInterval(wait))
    var delay = 0.2
    let endpoints = configuration.endpoints.map(\.description).joined(separator: ",")
    while true {
        do throws(StoreError) {
            let applied = try store.migrate()
            if !applied.isEmpty { logger.notice("database migrated", metadata: ["versions": "\(applied)"]) }
            return store
        } catch {
            guard error.kind == .unavailable, Date() < deadline else {
                throw StartupError("database \(endpoints) unavailable: \(error)")
            }
            logger.warning("database not reachable yet; retrying", metadata: [
                "endpoints": "\(endpoints)", "error": "\(error)", "retry_in_s": "\(delay)"])
            Thread.sleep(forTimeInterval: min(delay, max(0, deadline.timeIntervalSinceNow)))
            delay = min(delay * 2, 3)
        }
    }
}

/// A failure that stops authd during start-up, with its message.
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Authd {
    /// Runs the server until SIGTERM or SIGINT, then shuts down gracefully; SIGHUP reloads.
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the server (the default subcommand).",
            discussion: "Example: authd serve --dev --listen 127.0.0.1:7443")

        @OptionGroup var common: CommonOptions
        @OptionGroup var options: ServeOptions

        func run() throws {
            let env = ProcessInfo.processInfo.environment
            let settings: Settings, serve: ServeSettings
            do {
                settings = try Settings(common: common, environment: env)
                serve = try ServeSettings(common: common, serve: options, environment: env)
            } catch let error as ConfigurationError {
                throw exitForConfiguration(error)
            }
            LogSetup.bootstrap(format: settings.logFormat, level: settings.logLevel)
            let logger = Logger(label: "authd")
            do {
                try FileDescriptorLimit.ensure(
                    maxConnections: serve.server.limits.maxConnections,
                    reserve: FileDescriptorLimit.reserve(databasePool: settings.database.poolSize, ioThreads: serve.server.ioThreads),
                    logger: logger)
            } catch {
                throw exitForConfiguration(error)
            }
            do {
                try serveUntilStopped(settings: settings, serve: serve, logger: logger)
            } catch {
                logger.critical("authd could not start", metadata: ["error": "\(error)"])
                FileHandle.standardError.write(Data("authd: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }

        private func serveUntilStopped(settings: Settings, serve: ServeSettings, logger: Logger) throws {
            let store = try openStore(settings.database, wait: Int(serve.databaseWait.components.seconds), logger: logger)
            let core = try AuthCore(configuration: serve.auth, store: store, logger: Logger(label: "authd.core"))
            let metrics = MetricsEndpoint(core: core, store: store)
            var configuration = serve.server
            if serve.accessLog { configuration.accessLog = Logger(label: "authd.access") }  // after LogSetup.bootstrap
            let server = try RPCServer(configuration: configuration,
                                       services: Authd.services(core: core, validateCallers: serve.validateCallers),
                                       logger: Logger(label: "authd.transport"), metricsHandler: metrics.handler)
            metrics.attach(server)
            let reloader = Reloader(steps: [Authd.tlsReloadStep(server), Authd.keysReloadStep(core)],
                                    statusFile: serve.pidFile.map { ReloadStatus.path(pidFile: $0) },
                                    logger: Logger(label: "authd.reload"))
            // Before any other thread exists (the revocation poller, the server's): signals are
            // blocked here and inherited, so only the server's signal thread receives them.
            server.shutdownOnSignals(grace: serve.grace, onHangup: { reloader.requestReload() })
            do { try core.start() } catch { throw StartupError("loading revocations failed: \(error)") }
            defer { core.stop() }
            let refusals = RefusalReporter(server: server, logger: Logger(label: "authd.rpc"))
            try server.start()
            if let pidFile = serve.pidFile {
                do {
                    try reloader.publishReady()
                    try PidFile.write(pidFile)
                } catch {
                    server.shutdown(grace: .zero)
                    throw StartupError("cannot write the pid file \(pidFile) or its reload status: \(error)")
                }
            }
            defer {
                if let pidFile = serve.pidFile {
                    PidFile.remove(pidFile)
                    reloader.removeStatus()
                }
            }
            if let readyFile = serve.readyFile {
                let text = "\(serve.server.host):\(server.port)\n"
                guard FileManager.default.createFile(atPath: readyFile, contents: Data(text.utf8)) else {
                    server.shutdown(grace: .zero)
                    throw StartupError("cannot write the ready file \(readyFile)")
                }
            }
            logger.notice("authd listening", metadata: [
                "address": "\(serve.server.host):\(server.port)", "dev": "\(common.dev)",
                "io_threads": "\(serve.server.ioThreads)", "workers": "\(serve.server.workerThreads)",
                "mtls": "\(serve.server.tls.clientCertificates)", "pid": "\(getpid())"])
            refusals.start()
            server.waitUntilStopped()
            refusals.stop()
            logger.notice("authd stopped", metadata: ["statistics": "\(server.statistics)"])
        }
    }

    /// The "tls" reload step: the TLS files pass the start-up checks again, then the server
    /// swaps in a context made from them.
    private static func tlsReloadStep(_ server: RPCServer) -> ReloadStep {
        ReloadStep(name: "tls") {
            try ServeSettings.checkTLSFiles(server.configuration.tls)
            return try server.reloadTLS().description
        }
    }

    /// The "keys" reload step: the key set is read again from the database (each instance also
    /// follows it every revocation poll); a failure keeps the keys in use.
    private static func keysReloadStep(_ core: AuthCore) -> ReloadStep {
        ReloadStep(name: "keys") {
            try core.reloadKeys()
            return core.signingKeyID.map { "signing with \($0)" } ?? "no key set"
        }
    }

    /// Applies the database migrations and exits.
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the database migrations and exit.",
            discussion: "Example: authd migrate --dev")

        @OptionGroup var common: CommonOptions

        func run() throws {
            let settings = try operatorSettings(common)
            do {
                let store = try openStore(settings.database, wait: 0, logger: Logger(label: "authd"))
                print("migrations applied: \(try store.appliedMigrations().map(String.init).joined(separator: ", "))")
            } catch {
                FileHandle.standardError.write(Data("authd migrate: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    /// Operator commands on accounts.
    struct Admin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Operator commands on accounts: administrator rights, users, reset codes, the audit trail, service accounts, roles.",
            discussion: """
                Examples:
                  authd admin grant alice@example.com --dev
                  authd admin user create bob@example.com --dev       # prints a generated password
                  authd admin disable bob@example.com --dev
                  authd admin reset-password bob@example.com --dev    # prints a one-time code
                  authd admin audit --email bob@example.com --dev
                  authd admin service create billing --scopes orders:read --dev   # prints the client secret once
                  authd admin role grant bob@example.com support --dev
                """,
            subcommands: [Grant.self, Revoke.self, UserCommand.self, Users.self, Disable.self, Enable.self, Delete.self,
                          ResetPassword.self, Audit.self, Service.self, Role.self])

        struct Grant: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Make a user an administrator.")
            @Argument(help: "The user's email.") var email: String
            @OptionGroup var common: CommonOptions
            func run() throws { try setAdmin(email: email, admin: true, common: common) }
        }

        struct Revoke: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Withdraw a user's administrator rights.")
            @Argument(help: "The user's email.") var email: String
            @OptionGroup var common: CommonOptions
            func run() throws { try setAdmin(email: email, admin: false, common: common) }
        }
    }
}

/// The settings of an operator command (migrate, admin), with logging set up; a configuration
/// problem ends the command with status 78.
func operatorSettings(_ common: CommonOptions) throws -> Settings {
    let settings: Settings
    do { settings = try Settings(common: common, environment: ProcessInfo.processInfo.environment) } catch let error as ConfigurationError {
        throw exitForConfiguration(error)
    }
    LogSetup.bootstrap(format: settings.logFormat, level: settings.logLevel)
    return settings
}

/// Sets the admin flag through the core (so it is audited like every other change).
private func setAdmin(email: String, admin: Bool, common: CommonOptions) throws {
    try withOperatorCore(common) { core in
        try core.setAdmin(email: email, admin: admin)
        print(admin ? "\(email) is now an administrator" : "\(email) is no longer an administrator")
    }
}

/// Runs an operator command on a core over the configured database (so that it is audited like
/// every other change); an error ends the command with status 1 and its message.
/// `configure` adds what a command needs beyond that (the service secret key, say).
func withOperatorCore(_ common: CommonOptions, configure: (inout AuthConfiguration) throws -> Void = { _ in },
                      _ body: (AuthCore) throws -> Void) throws {
    let settings = try operatorSettings(common)
    // Token keys are irrelevant here; a throwaway key satisfies the configuration.
    var configuration = AuthConfiguration(signingKeys: ["admin": SecureRandom.bytes(32)], activeKeyID: "admin")
    do { try configure(&configuration) } catch let error as ConfigurationError { throw exitForConfiguration(error) }
    do {
        let store = try openStore(settings.database, wait: 0, logger: Logger(label: "authd"))
        let core = try AuthCore(configuration: configuration, store: store, logger: Logger(label: "authd.admin"))
        try body(core)
    } catch let error as AuthError {
        FileHandle.standardError.write(Data("authd admin: \(error.message)\n".utf8))
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("authd admin: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
