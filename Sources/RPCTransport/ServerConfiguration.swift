import Logging
import Support

/// Everything a server needs: where to listen, TLS, threads and limits.
public struct ServerConfiguration: Sendable {
    /// Address to bind (an IP literal, `localhost`, `0.0.0.0` or `::`).
    public var host: String
    /// Port to bind; 0 picks a free one (read it back from `RPCServer.port`).
    public var port: Int
    public var tls: TLSConfiguration
    /// Event-loop threads owning the connections (epoll, non-blocking TLS).
    public var ioThreads: Int
    /// Threads running `.blocking` handlers.
    public var workerThreads: Int
    public var limits: ServerLimits
    /// An I/O thread with nothing to do polls its connections without sleeping for up to this long
    /// before it sleeps: a request that comes within it is read without a thread wake-up (tens of
    /// microseconds on a virtual machine), for the CPU the spinning burns. Default nil: off.
    public var busyPoll: Duration?
    /// Load balancers allowed to tell the client's address: a connection from one of these blocks
    /// must start with a PROXY protocol v2 header (before TLS), whose source address becomes the
    /// peer; a connection from anywhere else is taken as the client itself. Default: none.
    public var trustedProxies: [IPNetwork]
    /// Where to serve plain-HTTP metrics and probes (`RPCServer`'s `metricsHandler`), on the same
    /// I/O threads; nil (the default): no such listener, and calls are not counted.
    public var metricsListen: HostPort?
    /// Where one line per call goes (protocol, method, code, duration, peer, user, traceparent);
    /// nil (the default): no access log.
    public var accessLog: Logger?

    public init(host: String = "127.0.0.1", port: Int = 0, tls: TLSConfiguration, ioThreads: Int = 2,
                workerThreads: Int = 4, limits: ServerLimits = ServerLimits(), busyPoll: Duration? = nil,
                trustedProxies: [IPNetwork] = [], metricsListen: HostPort? = nil) {
        self.metricsListen = metricsListen
        self.host = host
        self.port = port
        self.tls = tls
        self.ioThreads = ioThreads
        self.workerThreads = workerThreads
        self.limits = limits
        self.busyPoll = busyPoll
        self.trustedProxies = trustedProxies
    }
}

/// The server's limits, each with what happens when it is exceeded (see schema/PROTOCOL.md, "Limits").
public struct ServerLimits: Sendable {
    /// Largest frame payload accepted; a longer frame gets ERROR RESOURCE_EXHAUSTED and a close.
    /// Default 64 KiB: an auth request is a few KiB at most.
    public var maxFrameSize: Int = 64 << 10
    /// Largest request message after decompression; beyond it the call gets RESOURCE_EXHAUSTED
    /// (inflating stops there). Default 64 KiB.
    public var maxDecompressedSize: Int = 64 << 10
    /// Calls in flight on one connection; one more gets RESOURCE_EXHAUSTED. Default 128.
    public var maxCallsInFlightPerConnection: Int = 128
    /// Open connections; beyond it new ones are closed at once, before TLS. Default 10,000.
    public var maxConnections: Int = 10_000
    /// Open connections from one client address (an IPv4 address, an IPv6 /64; behind a trusted
    /// proxy, the address its PROXY header gives); beyond it new ones are closed at once. Default 64.
    public var maxConnectionsPerAddress: Int = 64
    /// Blocking calls waiting for a worker; one more gets RESOURCE_EXHAUSTED. Default 1,024.
    public var workerQueueCapacity: Int = 1_024
    /// Blocking calls queued or running for one connection; one more gets RESOURCE_EXHAUSTED at
    /// once. Default 8.
    public var maxBlockingCallsPerConnection: Int = 8
    /// Request bytes held by blocking calls waiting for a worker, over every connection; a call
    /// that would go over gets RESOURCE_EXHAUSTED at once. Default 16 MiB.
    public var maxQueuedRequestBytes: Int = 16 << 20
    /// Time from accept to the client's first SETTINGS (TLS handshake, preface, SETTINGS); then the
    /// connection is closed. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Time a frame may stay partly received (its first bytes in, the rest not); then the connection
    /// is closed. Default 10 s.
    public var frameTimeout: Duration = .seconds(10)
    /// A connection with no call in flight and no call started or finished this long gets GOAWAY
    /// and is closed (PINGs do not count). Default 5 min.
    public var idleTimeout: Duration = .seconds(300)
    /// Replies buffered for a peer above this stop the server reading its requests. Default 1 MiB.
    public var maxBufferedOutput: Int = 1 << 20
    /// A peer that takes no bytes for this long while replies wait is cut off. Default 10 s.
    public var writeStallTimeout: Duration = .seconds(10)
    /// Replies at least this long are compressed when the client accepts zlib. Default 1,024 bytes.
    public var compressionThreshold: Int = 1_024
    /// gRPC over HTTP/2: the request header list (names, values, 32 bytes each, as HTTP/2 counts
    /// them) a stream may send; a longer one gets RESOURCE_EXHAUSTED. Default 16 KiB.
    public var maxHeaderListSize: Int = 16 << 10

    public init() {}
}
