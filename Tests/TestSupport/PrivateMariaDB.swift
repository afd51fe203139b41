import DevCertificates
import Foundation

/// A throwaway MariaDB server of its own, for tests that stop and start the database (health,
/// outages, start-up retry) without disturbing the shared private instance of `scripts/mariadb`.
///
/// A fresh data directory under the system's temporary folder (`mariadb-install-db --no-defaults`,
/// about 2 s), a unix socket only (`--skip-networking`), an application user `auth` with a random
/// password allowed to create databases named `auth*`. `stop()` sends SIGTERM by pid and waits;
/// `start()` brings the same data back. `destroy()` (or `deinit`) kills it and removes the folder.
///
/// ```swift
/// let db = try PrivateMariaDB.create()          // installed and running
/// defer { db.destroy() }
/// let authd = try AuthdProcess.start(database: db.settings(database: "auth_outage"))
/// try db.stop()                                 // the database goes away…
/// try db.start()                                // …and comes back
/// ```
///
/// With `tcp:` it also listens on 127.0.0.1 (a free port), and with `tls:` it presents a server
/// certificate there (`--ssl-cert/--ssl-key/--ssl-ca`); `tcpSettings(database:)` connect by TCP.
public final class PrivateMariaDB: @unchecked Sendable {
    // @unchecked: `process` is only touched by the test thread that owns this object, or under `lock`.
    public let directory: URL
    public let dataDirectory: URL
    public let socket: String
    public let user = "auth"
    public let password: String
    public let logFile: String
    /// The TCP port on 127.0.0.1, when created with `tcp: true`.
    public let port: Int?
    /// The server's TLS files, when created with `tls:`.
    public let tls: ServerTLSFiles?
    private let lock = NSLock()
    private var process: Process?

    /// Installs a new data directory and starts the server; waits (up to `timeout`) until it answers.
    /// - Parameters:
    ///   - tcp: also listen on 127.0.0.1 at a free port (`port`); the user may connect from there too.
    ///   - tls: certificate, key and CA file the server presents (implies `tcp`).
    public static func create(tcp: Bool = false, tls: ServerTLSFiles? = nil, timeout: TimeInterval = 60) throws -> PrivateMariaDB {
        let directory = try TestEnvironment.makeTemporaryDirectory("mariadb")
        let db = PrivateMariaDB(directory: directory, port: tcp || tls != nil ? try freeLoopbackPort() : nil, tls: tls)
        do {
            try db.install(timeout: timeout)
            try db.start(timeout: timeout)
            try db.sql("""
                CREATE USER IF NOT EXISTS 'auth'@'localhost' IDENTIFIED BY '\(db.password)';
                GRANT ALL PRIVILEGES ON `auth%`.* TO 'auth'@'localhost';
                CREATE USER IF NOT EXISTS 'auth'@'127.0.0.1' IDENTIFIED BY '\(db.password)';
                GRANT ALL PRIVILEGES ON `auth%`.* TO 'auth'@'127.0.0.1';
                FLUSH PRIVILEGES;
                """)
        } catch {
            db.destroy()
            throw error
        }
        return db
    }

    private init(directory: URL, port: Int?, tls: ServerTLSFiles?) {
        self.directory = directory
        self.port = port
        self.tls = tls
        dataDirectory = directory.appendingPathComponent("db")
        socket = directory.appendingPathComponent("mariadb.sock").path
        logFile = directory.appendingPathComponent("mariadbd.log").path
        password = (0..<16).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
    }

    /// Connection settings for the application user and `database` (created by `AuthdProcess`, or
    /// by `createDatabase`).
    public func settings(database: String) -> DatabaseSettings {
        DatabaseSettings(socket: socket, host: nil, port: nil, user: user, password: password, database: database)
    }

    /// Connection settings by TCP to `host` (default 127.0.0.1) at `port`, for a server created with `tcp:` or `tls:`.
    public func tcpSettings(database: String, host: String = "127.0.0.1") -> DatabaseSettings {
        precondition(port != nil, "created without tcp: or tls:")
        return DatabaseSettings(socket: nil, host: host, port: port, user: user, password: password, database: database)
    }

    /// Runs SQL as root through the `mariadb` command-line client.
    @discardableResult
    public func sql(_ statements: String, timeout: TimeInterval = 30) throws -> String {
        let client = try PrivateMariaDB.find(["mariadb", "mysql"])
        let r = try ProcessRunner.run(client, ["--no-defaults", "--protocol=socket", "--socket=\(socket)", "-uroot", "-N", "-B"],
                                      input: Data(statements.utf8), timeout: timeout)
        guard r.status == 0 else { throw TestSetupError("mariadb client failed: \(r.stderr)") }
        return r.stdout
    }

    /// The server's process id, while it runs.
    public var pid: Int32? { lock.withLock { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } } }
    public var isRunning: Bool { pid != nil }

    /// Starts the server on the existing data directory (no-op if it runs) and waits until it answers.
    public func start(timeout: TimeInterval = 60) throws {
        if isRunning { return }
        let mariadbd = try PrivateMariaDB.find(["mariadbd", "mysqld"])
        try? FileManager.default.removeItem(atPath: socket)
        let p = Process()
        p.executableURL = mariadbd
        var args = ["--no-defaults", "--datadir=\(dataDirectory.path)", "--socket=\(socket)",
                    "--pid-file=\(directory.appendingPathComponent("mariadbd.pid").path)", "--log-error=\(logFile)",
                    "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                    "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--max-connections=200"]
        args += port.map { ["--bind-address=127.0.0.1", "--port=\($0)"] } ?? ["--skip-networking"]
        if let tls { args += ["--ssl-cert=\(tls.certificateFile)", "--ssl-key=\(tls.keyFile)", "--ssl-ca=\(tls.caFile)"] }
        if getuid() == 0 { args.append("--user=root") }
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        lock.withLock { process = p }
        let answered = try waitUntil(timeout: .milliseconds(Int(timeout * 1000)), poll: .milliseconds(100)) {
            if FileManager.default.fileExists(atPath: socket), (try? sql("SELECT 1", timeout: 10)) != nil { return true }
            if !p.isRunning { throw TestSetupError("mariadbd exited at start:\n\(logTail())") }
            return false
        }
        if answered { return }
        throw TestSetupError("mariadbd did not answer within \(Int(timeout)) s:\n\(logTail())")
    }

    /// SIGTERM by pid and wait (up to `timeout`, then SIGKILL) until the server has exited.
    public func stop(timeout: TimeInterval = 30) {
        guard let p = lock.withLock({ process }), p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGTERM)
        waitUntil(timeout: .milliseconds(Int(timeout * 1000)), poll: .milliseconds(50)) { !p.isRunning }
        if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    /// SIGKILL, as a crash would.
    public func kill() {
        guard let p = lock.withLock({ process }), p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Kills the server and removes its folder.
    public func destroy() {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        if let p = process, p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
    }

    private func install(timeout: TimeInterval) throws {
        let installDB = try PrivateMariaDB.find(["mariadb-install-db", "mysql_install_db"])
        var args = ["--no-defaults", "--datadir=\(dataDirectory.path)", "--auth-root-authentication-method=normal",
                    "--skip-test-db"]
        if getuid() == 0 { args.append("--user=root") }
        // Seen once on the shared 2-core machine: the bootstrap server died early ("Installation of
        // system tables failed!"), and a second attempt on a fresh folder worked. So: two attempts.
        var output = ""
        for attempt in 1...2 {
            try? FileManager.default.removeItem(at: dataDirectory)
            let r = try ProcessRunner.run(installDB, args, timeout: timeout)
            if r.status == 0 { return }
            output += "attempt \(attempt), status \(r.status):\n\(r.stdout)\n\(r.stderr)\n"
        }
        throw TestSetupError("mariadb-install-db failed:\n\(output)")
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// The first of `names` found in the usual binary folders.
    static func find(_ names: [String]) throws -> URL {
        for name in names {
            for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin", "/usr/libexec"] {
                let path = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return URL(fileURLWithPath: path) }
            }
        }
        throw TestSetupError("\(names.joined(separator: " or ")) not found (apt-get install mariadb-server mariadb-client)")
    }
}

/// The TLS files a `PrivateMariaDB` presents: its certificate chain and key, and the CA file
/// (`--ssl-ca`, which the server also uses for client certificates).
public struct ServerTLSFiles: Sendable {
    public var certificateFile: String
    public var keyFile: String
    public var caFile: String
    /// The CA's certificate and key, when the CA was made here (to sign more certificates).
    public var authority: CertificateFactory.Issued?

    public init(certificateFile: String, keyFile: String, caFile: String, authority: CertificateFactory.Issued? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.authority = authority
    }

    /// A server certificate for `names` (`DNS:…`, `IP:…`) in `directory` (`<prefix>-server.pem`,
    /// `<prefix>-server.key`), signed by a new CA (`<prefix>-ca.pem`), or by the CA of `other`.
    public static func make(in directory: URL, names: [String], prefix: String = "db",
                            signedBy other: ServerTLSFiles? = nil) throws -> ServerTLSFiles {
        func path(_ name: String) -> String { directory.appendingPathComponent("\(prefix)-\(name)").path }
        var files = ServerTLSFiles(certificateFile: path("server.pem"), keyFile: path("server.key"), caFile: path("ca.pem"))
        let ca: CertificateFactory.Issued
        if let other, let authority = other.authority {
            ca = authority
            files.caFile = other.caFile
        } else {
            ca = try CertificateFactory.makeAuthority(commonName: "\(prefix) test CA", days: 2)
            try CertificateFactory.write(ca.certificatePEM, to: files.caFile, mode: 0o644)
        }
        files.authority = ca
        let commonName = names.first.map { String($0.drop(while: { $0 != ":" }).dropFirst()) } ?? "db"
        let leaf = try CertificateFactory.makeLeaf(commonName: commonName, subjectAltNames: names, authority: ca, days: 2)
        try CertificateFactory.write(leaf.certificatePEM, to: files.certificateFile, mode: 0o644)
        try CertificateFactory.write(leaf.privateKeyPEM, to: files.keyFile, mode: 0o600)
        return files
    }
}
