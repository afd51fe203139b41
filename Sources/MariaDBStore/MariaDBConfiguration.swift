import Foundation

/// Where and how to reach MariaDB. `endpoints` are tried in order when a connection is opened,
/// so a list of Galera nodes gives fail-over without other changes.
public struct MariaDBConfiguration: Sendable {
    /// One server: a unix socket, or a TCP host and port.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var socket: String?
        public var host: String?
        public var port: Int?
        public init(socket: String? = nil, host: String? = nil, port: Int? = nil) {
            self.socket = socket
            self.host = host
            self.port = port
        }
        public var description: String {
            if let socket { return "unix:\(socket)" }
            let host = host ?? "127.0.0.1"
            return "\(host.contains(":") ? "[\(host)]" : host):\(port ?? 3306)"
        }

        /// Whether the connection stays on this machine: a unix socket, or TCP to a loopback
        /// address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) or `localhost`. Other names count as
        /// remote: they are not resolved here, so what they point at cannot be known without
        /// asking the network.
        public var isLocal: Bool {
            if socket != nil { return true }
            guard let host else { return true }  // 127.0.0.1
            if host.lowercased() == "localhost" { return true }
            var v4 = in_addr()
            if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
            return withUnsafeBytes(of: &v6) { bytes in
                bytes.elementsEqual([UInt8](repeating: 0, count: 15) + [1])  // ::1
                    || (bytes.prefix(12).elementsEqual([UInt8](repeating: 0, count: 10) + [0xff, 0xff]) && bytes[12] == 127)
            }
        }
    }

    /// How TCP connections are protected. Unix sockets never leave the machine and never use TLS.
    public enum TCPSecurity: Sendable, Equatable {
        /// TLS required (1.2 or 1.3): the server's certificate must chain to a CA in this PEM file
        /// and name the host connected to (its address or DNS name); otherwise the connection is refused.
        case verifiedTLS(certificateAuthorityFile: String)
        /// No TLS. authd accepts it only for local endpoints, unless told otherwise (`--db-insecure`).
        case plaintext
    }

    public var endpoints: [Endpoint]
    public var user: String
    public var password: String
    public var database: String
    /// Connections kept at most (each one owned by one caller at a time).
    public var poolSize: Int
    /// Seconds to open a connection, and to wait for a free one in the pool.
    public var connectTimeout: Int
    /// Seconds a read or write on the connection may take (Connector/C retries reads once more,
    /// so a dead server is noticed after about twice the read timeout).
    public var readTimeout: Int
    public var writeTimeout: Int
    /// Attempts of a transaction that fails with a deadlock or a Galera certification conflict
    /// (back-off 10, 20, 40, 80, 160, 200, 200 ms with jitter between them: at most ~0.7 s in all).
    /// Five were too few on Galera under load: the throttle's bucket rows, updated through two
    /// nodes at once, then still conflicted now and then (a register failed so in the scale-out test).
    public var conflictRetries: Int = 8
    /// On a Galera node (`wsrep_on`), every session sets `wsrep_sync_wait = 1`: a read first waits
    /// until the node has applied every write the cluster committed before it, so a login sees a
    /// registration made through another node a moment earlier. No effect on a plain server.
    public var causalReads: Bool = true
    /// Seconds an endpoint that refused a connection, or whose connection broke, is tried only
    /// after the others.
    public var endpointQuarantine: Double = 2
    /// TLS on TCP connections (default: none, which suits loopback and tests; authd requires TLS
    /// for remote endpoints unless `--db-insecure`).
    public var tcpSecurity: TCPSecurity = .plaintext

    /// The endpoints this configuration would reach over plaintext TCP through the network: empty
    /// when TLS is configured, or when every endpoint is local.
    public var plaintextRemoteEndpoints: [Endpoint] {
        tcpSecurity == .plaintext ? endpoints.filter { !$0.isLocal } : []
    }

    public init(socket: String? = nil, host: String? = nil, port: Int? = nil, user: String, password: String,
                database: String, poolSize: Int = 8, connectTimeout: Int = 3, readTimeout: Int = 5, writeTimeout: Int = 5) {
        self.init(endpoints: [Endpoint(socket: socket, host: host, port: port)], user: user, password: password,
                  database: database, poolSize: poolSize, connectTimeout: connectTimeout,
                  readTimeout: readTimeout, writeTimeout: writeTimeout)
    }

    public init(endpoints: [Endpoint], user: String, password: String, database: String, poolSize: Int = 8,
                connectTimeout: Int = 3, readTimeout: Int = 5, writeTimeout: Int = 5) {
        self.endpoints = endpoints
        self.user = user
        self.password = password
        self.database = database
        self.poolSize = max(1, poolSize)
        self.connectTimeout = max(1, connectTimeout)
        self.readTimeout = max(1, readTimeout)
        self.writeTimeout = max(1, writeTimeout)
    }
}
