import AuthCore
import AuthService
import Foundation
import RPCTransport

/// Every authd setting, each declared once (flag, environment variable, default, range, help).
/// `Options.swift` declares the flags from these entries and `Settings.swift` resolves them, so
/// the help, the lookup and the range check cannot disagree. Where the auth core or the
/// transport has the default (and the core a range), the entry reads it from there.
enum SettingTable {
    // MARK: Common to every subcommand

    static let dataDir = Setting<String>(
        flag: "data-dir", variable: "AUTHD_DATA_DIR", defaultLabel: "./.data", help: "The project's data folder for --dev")

    static let dbSocket = Setting<String>(flag: "db-socket", variable: "AUTH_DB_SOCKET", help: "MariaDB unix socket")
    static let dbHost = Setting<String>(
        flag: "db-host", variable: "AUTH_DB_HOST", default: "127.0.0.1", help: "MariaDB host, when no socket is given")
    static let dbPort = Setting<Int>(flag: "db-port", variable: "AUTH_DB_PORT", default: 3306, range: 1...65_535, help: "MariaDB port")
    static let dbUser = Setting<String>(flag: "db-user", variable: "AUTH_DB_USER", default: "auth", help: "MariaDB user")
    /// The password itself, when no password file is given (environment only: never a flag).
    static let dbPasswordVariable = "AUTH_DB_PASSWORD"
    static let dbPasswordFile = Setting<String>(
        flag: "db-password-file", variable: "AUTH_DB_PASSWORD_FILE", variableNote: "or the password itself in \(dbPasswordVariable)",
        help: "File holding the MariaDB password")
    static let dbName = Setting<String>(flag: "db-name", variable: "AUTH_DB_NAME", default: "auth", help: "Database name")
    static let dbHosts = Setting<String>(
        flag: "db-hosts", variable: "AUTH_DB_HOSTS",
        help: "Several MariaDB servers (Galera nodes) as host:port,host:port; tried in order, with fail-over")
    static let dbTlsCa = Setting<String>(
        flag: "db-tls-ca", variable: "AUTH_DB_TLS_CA",
        help: "PEM CA file the MariaDB server's certificate must chain to: TCP connections then require TLS and a certificate naming the host")
    static let dbInsecure = Setting<Bool>(
        flag: "db-insecure", variable: "AUTH_DB_INSECURE",
        help: "Allow plaintext TCP to a MariaDB host that is not loopback (without it, such a host needs --db-tls-ca)")
    static let dbPool = Setting<Int>(
        flag: "db-pool", variable: "AUTHD_DB_POOL", default: 8, range: 1...256, help: "Database connections in the pool")
    static let dbTimeout = Setting<Duration>(
        flag: "db-timeout", variable: "AUTHD_DB_TIMEOUT", unit: .seconds(1), default: .seconds(3), range: .seconds(1)...(.seconds(300)),
        help: "Seconds to wait for a database connection or statement")

    static let logLevel = Setting<LogLevel>(flag: "log-level", variable: "AUTHD_LOG_LEVEL", default: .info, help: "Log level")
    static let logFormat = Setting<LogFormat>(flag: "log-format", variable: "AUTHD_LOG_FORMAT", default: .text, help: "Log format")

    // MARK: serve: listening and TLS

    static let listen = Setting<String>(
        flag: "listen", variable: "AUTHD_LISTEN", default: "127.0.0.1:7443", help: "Address to listen on, HOST:PORT or [IPv6]:PORT")
    static let tlsCert = Setting<String>(flag: "tls-cert", variable: "AUTHD_TLS_CERT", help: "PEM certificate chain of the server")
    static let tlsKey = Setting<String>(flag: "tls-key", variable: "AUTHD_TLS_KEY", help: "PEM private key of the server")
    static let tlsClientCa = Setting<String>(
        flag: "tls-client-ca", variable: "AUTHD_TLS_CLIENT_CA",
        help: "PEM CA file that client certificates must chain to; enables mTLS (optional unless --require-client-cert)")
    static let requireClientCert = Setting<Bool>(
        flag: "require-client-cert", variable: "AUTHD_REQUIRE_CLIENT_CERT",
        help: "Refuse clients without a certificate signed by --tls-client-ca")
    static let tlsMinVersion = Setting<TLSMinimumVersion>(
        flag: "tls-min-version", variable: "AUTHD_TLS_MIN_VERSION", default: .tls13, help: "Lowest TLS version accepted")

    // MARK: serve: tokens

    /// The secret itself, when no secret file is given (environment only: never a flag).
    static let jwtSecretVariable = "AUTHD_JWT_SECRET"
    static let jwtSecretFile = Setting<String>(
        flag: "jwt-secret-file", variable: "AUTHD_JWT_SECRET_FILE", variableNote: "or the secret itself in \(jwtSecretVariable)",
        help: "File with the HS256 signing secret (at least 32 bytes; mode 0600)")
    static let jwtKid = Setting<String>(flag: "jwt-kid", variable: "AUTHD_JWT_KID", default: "k1", help: "Key id (kid) of the signing secret")
    /// Repeatable flag; the variable holds the same items separated by commas.
    static let jwtVerifyKeys = Setting<String>(
        flag: "jwt-verify-key", variable: "AUTHD_JWT_VERIFY_KEYS", variableNote: "as kid=file,kid=file",
        help: "An older key that still verifies, as KID=FILE; repeat for several (key rotation)")
    static let jwtAlg = Setting<TokenAlgorithm>(
        flag: "jwt-alg", variable: "AUTHD_JWT_ALG", default: nil,
        defaultLabel: "EdDSA with a key set (--key-encryption-key-file or --dev), else HS256", expected: "EdDSA or HS256",
        help: "Algorithm of new tokens: EdDSA signs with the key set's Ed25519 keys; HS256 with the key set's HMAC keys, or without a key set with --jwt-secret-file",
        parse: { TokenAlgorithm(rawValue: $0) }, text: { $0.rawValue })
    static let keyEncryptionKeyFile = Setting<String>(
        flag: "key-encryption-key-file", variable: "AUTHD_KEY_ENCRYPTION_KEY_FILE",
        help: "File with the 32-byte key (base64; mode 0600) that seals the key set's private keys in the database; enables the key set (docs/keys.md)")
    static let keyPublishLead = Setting<Duration>(
        flag: "key-publish-lead", variable: "AUTHD_KEY_PUBLISH_LEAD", unit: .seconds(1), default: AuthConfiguration.Bounds.keyPublishLead.default,
        range: AuthConfiguration.Bounds.keyPublishLead.range,
        help: "Seconds a key made by `authd keys generate` is published before it signs (--dev: 5); verifiers cache the key set for half of it")
    static let validationCacheEntries = Setting<Int>(
        flag: "validation-cache-entries", variable: "AUTHD_VALIDATION_CACHE_ENTRIES", default: 65_536, range: 0...(1 << 24),
        help: "Validated tokens remembered (about 400 bytes each) so that validating one again skips its signature; 0 turns the cache off (the benchmark's uncached figure)")
    static let issuer = Setting<String>(flag: "issuer", variable: "AUTHD_ISSUER", help: "The iss claim to issue and require")
    static let audience = Setting<String>(flag: "audience", variable: "AUTHD_AUDIENCE", help: "The aud claim to issue and require")
    static let accessTtl = Setting<Duration>(
        flag: "access-ttl", variable: "AUTHD_ACCESS_TTL", unit: .seconds(1), bounded: AuthConfiguration.Bounds.accessTokenLifetime,
        help: "Access-token lifetime in seconds")
    static let refreshTtl = Setting<Duration>(
        flag: "refresh-ttl", variable: "AUTHD_REFRESH_TTL", unit: .seconds(1), bounded: AuthConfiguration.Bounds.refreshTokenLifetime,
        help: "Refresh-token lifetime in seconds")
    static let leeway = Setting<Duration>(
        flag: "leeway", variable: "AUTHD_LEEWAY", unit: .seconds(1), bounded: AuthConfiguration.Bounds.leeway,
        help: "Clock leeway for exp/nbf in seconds")
    static let revocationPoll = Setting<Duration>(
        flag: "revocation-poll-ms", variable: "AUTHD_REVOCATION_POLL_MS", unit: .milliseconds(1),
        bounded: AuthConfiguration.Bounds.revocationPollInterval,
        help: "Milliseconds between polls of new revocations: the bound for a logout to reach every instance")
    static let revocationMaxStaleness = Setting<Duration>(
        flag: "revocation-max-staleness", variable: "AUTHD_REVOCATION_MAX_STALENESS", unit: .seconds(1),
        bounded: AuthConfiguration.Bounds.revocationMaxStaleness,
        help: "Seconds the revocations in memory are trusted after the last successful read; past it Validate answers UNAVAILABLE and Health NOT_SERVING (must exceed the poll interval)")
    static let sessionMaxAge = Setting<Duration>(
        flag: "session-max-age", variable: "AUTHD_SESSION_MAX_AGE", unit: .seconds(1), bounded: AuthConfiguration.Bounds.sessionMaxAge,
        help: "Absolute lifetime of a session in seconds, from its login; refreshing never extends it")

    // MARK: serve: service identities

    static let serviceTokenTtl = Setting<Duration>(
        flag: "service-token-ttl", variable: "AUTHD_SERVICE_TOKEN_TTL", unit: .seconds(1),
        bounded: AuthConfiguration.Bounds.serviceTokenLifetime,
        help: "Service-token (ServiceToken, client credentials) lifetime in seconds; no refresh token")
    static let serviceSecretGrace = Setting<Duration>(
        flag: "service-secret-grace", variable: "AUTHD_SERVICE_SECRET_GRACE", unit: .seconds(1),
        bounded: AuthConfiguration.Bounds.serviceSecretGrace,
        help: "Seconds a service's previous secret keeps working after `authd admin service rotate-secret` (read by that command)")
    static let validateCallers = Setting<ValidateCallers>(
        flag: "validate-callers", variable: "AUTHD_VALIDATE_CALLERS", default: .any,
        help: "Who may call Validate (and Envoy's Check): any (whoever reaches the port), or authenticated (a service token in authorization, or a client certificate bound to a service account; else UNAUTHENTICATED)")

    // MARK: serve: passwords

    static let argon2MemoryKib = Setting<Int>(
        flag: "argon2-memory-kib", variable: "AUTHD_ARGON2_MEMORY_KIB", default: Argon2Parameters.owasp.memoryKiB,
        range: Argon2Parameters.memoryKiBRange, help: "argon2id memory in KiB")
    static let argon2Iterations = Setting<Int>(
        flag: "argon2-iterations", variable: "AUTHD_ARGON2_ITERATIONS", default: Argon2Parameters.owasp.iterations,
        range: Argon2Parameters.iterationsRange, help: "argon2id iterations")
    static let argon2Concurrency = Setting<Int>(
        flag: "argon2-concurrency", variable: "AUTHD_ARGON2_CONCURRENCY", default: nil, defaultLabel: "the number of cores",
        range: AuthConfiguration.Bounds.passwordHashingConcurrency,
        help: "argon2id hashes at once at most; more logins wait for a turn")

    // MARK: serve: registration policy and throttling

    static let registration = Setting<RegistrationPolicy>(
        flag: "registration", variable: "AUTHD_REGISTRATION", default: .open,
        help: "Who may register: open (anyone), or closed (Register answers PERMISSION_DENIED; administrators create accounts)")

    static let registerLimitPerAddress = Setting<Int>(
        flag: "register-limit-per-address", variable: "AUTHD_REGISTER_LIMIT_PER_ADDRESS",
        default: AuthConfiguration.Bounds.registerLimitPerAddress.default, range: AuthConfiguration.Bounds.registerLimitPerAddress.range,
        help: "Registrations per client address per --register-window; beyond it RESOURCE_EXHAUSTED, before any hashing")
    static let registerLimitGlobal = Setting<Int>(
        flag: "register-limit-global", variable: "AUTHD_REGISTER_LIMIT_GLOBAL",
        default: AuthConfiguration.Bounds.registerLimitGlobal.default, range: AuthConfiguration.Bounds.registerLimitGlobal.range,
        help: "Registrations from all addresses together per --register-window (shared by every instance on the database)")
    static let registerWindow = Setting<Duration>(
        flag: "register-window", variable: "AUTHD_REGISTER_WINDOW", unit: .seconds(1), bounded: AuthConfiguration.Bounds.registerWindow,
        help: "Seconds of the sliding window the registration limits count in")

    // MARK: serve: threads and limits

    static let ioThreads = Setting<Int>(
        flag: "io-threads", variable: "AUTHD_IO_THREADS", default: nil, defaultLabel: "the number of cores", range: 1...64,
        help: "I/O threads")
    static let workers = Setting<Int>(
        flag: "workers", variable: "AUTHD_WORKERS", default: nil, defaultLabel: "2 x the number of cores", range: 1...1024,
        help: "Worker threads for blocking calls")
    static let busyPoll = Setting<Duration>(
        flag: "busy-poll", variable: "AUTHD_BUSY_POLL_US", unit: .microseconds(1), default: .zero, range: .zero...(.seconds(1)),
        help: "Microseconds an idle I/O thread polls without sleeping before it sleeps, 0 for off. Saves the thread wake-up on each request of a lightly loaded server, for up to a core of CPU per I/O thread")
    static let workerQueue = Setting<Int>(
        flag: "worker-queue", variable: "AUTHD_WORKER_QUEUE", default: ServerLimits().workerQueueCapacity, range: 1...1_000_000,
        help: "Blocking calls queued at most before RESOURCE_EXHAUSTED")
    static let maxConnections = Setting<Int>(
        flag: "max-connections", variable: "AUTHD_MAX_CONNECTIONS", default: ServerLimits().maxConnections, range: 1...1_000_000,
        help: "Connections at most")
    static let maxConnectionsPerAddress = Setting<Int>(
        flag: "max-connections-per-address", variable: "AUTHD_MAX_CONNECTIONS_PER_ADDRESS",
        default: ServerLimits().maxConnectionsPerAddress, range: 1...1_000_000,
        help: "Connections at most from one client address (an IPv6 client counts by its /64); more are closed at accept")
    static let trustedProxies = Setting<String>(
        flag: "trusted-proxy", variable: "AUTHD_TRUSTED_PROXIES",
        help: "Load balancers that send the client's address in a PROXY protocol v2 header, as CIDR,CIDR (IPv4 or IPv6): "
            + "their connections must start with one; no one else may send one")
    static let maxCalls = Setting<Int>(
        flag: "max-calls", variable: "AUTHD_MAX_CALLS", default: ServerLimits().maxCallsInFlightPerConnection, range: 1...65_536,
        help: "Calls in flight per connection at most")
    static let maxFrame = Setting<Int>(
        flag: "max-frame", variable: "AUTHD_MAX_FRAME", default: ServerLimits().maxFrameSize, range: 1024...(64 << 20),
        help: "Largest frame payload in bytes; a longer frame gets ERROR RESOURCE_EXHAUSTED and a close")
    static let maxMessage = Setting<Int>(
        flag: "max-message", variable: "AUTHD_MAX_MESSAGE", default: ServerLimits().maxDecompressedSize, range: 1024...(64 << 20),
        help: "Largest request message in bytes after decompression; a larger one gets RESOURCE_EXHAUSTED")
    static let maxBlockingCalls = Setting<Int>(
        flag: "max-blocking-calls", variable: "AUTHD_MAX_BLOCKING_CALLS", default: ServerLimits().maxBlockingCallsPerConnection,
        range: 1...65_536,
        help: "Blocking calls (all but Validate and Health) queued or running per connection at most; one more gets RESOURCE_EXHAUSTED")
    static let maxQueuedBytes = Setting<Int>(
        flag: "max-queued-bytes", variable: "AUTHD_MAX_QUEUED_BYTES", default: ServerLimits().maxQueuedRequestBytes,
        range: (64 << 10)...(1 << 34),
        help: "Request bytes held by blocking calls waiting for a worker, over all connections, at most; past it RESOURCE_EXHAUSTED")
    static let frameTimeout = Setting<Duration>(
        flag: "frame-timeout", variable: "AUTHD_FRAME_TIMEOUT", unit: .seconds(1), default: ServerLimits().frameTimeout,
        range: .seconds(1)...(.seconds(600)), help: "Seconds a frame may stay partly received before the connection is closed")
    static let idleTimeout = Setting<Duration>(
        flag: "idle-timeout", variable: "AUTHD_IDLE_TIMEOUT", unit: .seconds(1), default: ServerLimits().idleTimeout,
        range: .seconds(1)...(.seconds(86_400)), help: "Seconds a connection may stay without calls")
    static let handshakeTimeout = Setting<Duration>(
        flag: "handshake-timeout", variable: "AUTHD_HANDSHAKE_TIMEOUT", unit: .seconds(1), default: ServerLimits().handshakeTimeout,
        range: .seconds(1)...(.seconds(600)),
        help: "Seconds from accept to the client's first SETTINGS (TLS handshake, preface, SETTINGS)")
    static let grace = Setting<Duration>(
        flag: "grace", variable: "AUTHD_GRACE", unit: .seconds(1), default: .seconds(10), range: .zero...(.seconds(3600)),
        help: "Seconds in-flight calls get to finish on SIGTERM/SIGINT")
    static let dbWait = Setting<Duration>(
        flag: "db-wait", variable: "AUTHD_DB_WAIT", unit: .seconds(1), default: .seconds(30), range: .zero...(.seconds(3600)),
        help: "Seconds to keep retrying an unreachable database at start")
    static let readyFile = Setting<String>(
        flag: "ready-file", variable: "AUTHD_READY_FILE",
        help: "Once listening, write HOST:PORT (the bound port, useful with --listen 127.0.0.1:0) to this file")

    // MARK: serve and reload: reloading without a restart

    static let pidFile = Setting<String>(
        flag: "pid-file", variable: "AUTHD_PID_FILE", defaultLabel: "DATA_DIR/authd.pid with --dev, else none",
        help: "Once listening, write the process id to this file and each reload's outcome to FILE.reload; `authd reload` reads both")
    static let reloadTimeout = Setting<Duration>(
        flag: "timeout", variable: "AUTHD_RELOAD_TIMEOUT", unit: .seconds(1), default: .seconds(10), range: .seconds(1)...(.seconds(600)),
        help: "Seconds `authd reload` waits for the server's outcome")

    // MARK: serve: observability

    static let metricsListen = Setting<String>(
        flag: "metrics-listen", variable: "AUTHD_METRICS_LISTEN",
        help: "Serve Prometheus metrics (GET /metrics) and probes (/healthz, /readyz) over plain HTTP on HOST:PORT; off unless given")
    static let accessLog = Setting<Bool>(
        flag: "access-log", variable: "AUTHD_ACCESS_LOG",
        help: "Log one line per call (protocol, method, code, duration, peer, user, traceparent; JSON with --log-format json)")
}
