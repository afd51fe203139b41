/// Where and how a `ClientConnection` connects.
public struct ClientConfiguration: Sendable {
    /// Server address (IP literal or host name).
    public var host: String
    public var port: Int
    public var tls: TLSConfiguration
    /// Name checked against the server's certificate (and sent as SNI for host names); default `host`.
    public var serverName: String?
    /// Time allowed for TCP connect plus TLS handshake.
    public var connectTimeout: Duration
    /// Timeout of calls whose `CallOptions` set none; nil: wait as long as the connection lives.
    public var defaultTimeout: Duration?
    /// Whether requests may be compressed (when the server accepts zlib) and replies accepted compressed.
    public var compression: Bool
    /// Requests at least this long are compressed. Default 1,024 bytes.
    public var compressionThreshold: Int
    /// Largest frame and decompressed reply accepted from the server. Default 4 MiB each.
    public var maxFrameSize: Int
    public var maxDecompressedSize: Int
    /// A PING is sent after this long without traffic; no answer within `keepaliveTimeout` drops the connection.
    public var keepaliveInterval: Duration?
    public var keepaliveTimeout: Duration
    /// While calls are in flight, the I/O thread polls the socket without sleeping for up to this
    /// long before it sleeps: a reply that comes within it is read without a thread wake-up (tens
    /// of microseconds on a virtual machine), for the CPU the spinning burns. Default nil: off.
    /// Worth it for one-call-at-a-time latency; it takes a core from a busy machine's other work.
    public var busyPoll: Duration?

    public init(host: String, port: Int, tls: TLSConfiguration, serverName: String? = nil,
                connectTimeout: Duration = .seconds(5), defaultTimeout: Duration? = nil, compression: Bool = true,
                compressionThreshold: Int = 1_024, maxFrameSize: Int = 4 << 20, maxDecompressedSize: Int = 4 << 20,
                keepaliveInterval: Duration? = .seconds(30), keepaliveTimeout: Duration = .seconds(10),
                busyPoll: Duration? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        self.serverName = serverName
        self.connectTimeout = connectTimeout
        self.defaultTimeout = defaultTimeout
        self.compression = compression
        self.compressionThreshold = compressionThreshold
        self.maxFrameSize = maxFrameSize
        self.maxDecompressedSize = maxDecompressedSize
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.busyPoll = busyPoll
    }
}
