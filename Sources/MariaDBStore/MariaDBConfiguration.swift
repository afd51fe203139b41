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
        public var description: String { socket.map { "unix:\($0)" } ?? "\(host ?? "127.0.0.1"):\(port ?? 3306)" }
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
    /// Attempts of a transaction that fails with a deadlock or a Galera certification conflict.
    public var conflictRetries: Int = 5
    /// On a Galera node (`wsrep_on`), every session sets `wsrep_sync_wait = 1`: a read first waits
    /// until the node has applied every write the cluster committed before it, so a login sees a
    /// registration made through another node a moment earlier. No effect on a plain server.
    public var causalReads: Bool = true
    /// Seconds an endpoint that refused a connection, or whose connection broke, is tried only
    /// after the others.
    public var endpointQuarantine: Double = 2

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
