import Support

/// Where the server runs a handler (the same on every transport: authrpc/1, in-process, …).
public enum HandlerKind: Sendable, Equatable {
    /// Pure CPU and short (token validation): runs on the connection's I/O thread, no hand-off.
    case inline
    /// May block (password hashing, database): runs on the bounded worker pool.
    case blocking
}

/// How a method's messages flow.
public enum CallShape: Sendable, Equatable {
    /// One request, one reply.
    case unary
    /// A bidirectional stream in which the server answers each request message with exactly one
    /// reply message, in order, by calling the handler once per message (gRPC server reflection).
    /// A transport without streams (authrpc/1, in-process) serves it as one request, one reply.
    case replyPerMessage
}

/// The wire protocol a call arrived on (metrics and access logs label calls by it).
public enum WireProtocol: String, Sendable, Equatable, CaseIterable {
    /// `authrpc/1`, this project's binary protocol over TLS.
    case authrpc
    /// Standard gRPC over HTTP/2 (ALPN `h2`) on the same port.
    case grpc
    /// A call made in the same process (`InProcessServer`).
    case inProcess = "in-process"
}

/// What a handler knows about the call it serves.
public struct ServerContext: Sendable {
    /// The metadata the caller sent (`authorization`, …).
    public var metadata: Metadata
    /// When the caller stops waiting, on the monotonic clock; nil when the caller set none.
    public var deadline: ContinuousClock.Instant?
    /// The peer's address, as `ip:port` or `[ipv6]:port`: the TCP peer, or behind a trusted proxy
    /// the client its PROXY header named.
    public var peer: String
    /// The subject of the verified client certificate (mTLS), if one was presented.
    public var peerCertificateSubject: String?
    /// The first URI SAN of that certificate (e.g. a SPIFFE ID), when it has one (authrpc/1).
    public var peerCertificateURISAN: String?
    /// The wire protocol the call arrived on.
    public var wireProtocol: WireProtocol
    /// Where a handler notes who the call acted for (the access log); nil while that log is off.
    public var note: CallNote?

    public init(metadata: Metadata = Metadata(), deadline: ContinuousClock.Instant? = nil,
                peer: String = "", peerCertificateSubject: String? = nil, peerCertificateURISAN: String? = nil,
                wireProtocol: WireProtocol = .authrpc) {
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.peerCertificateSubject = peerCertificateSubject
        self.peerCertificateURISAN = peerCertificateURISAN
        self.wireProtocol = wireProtocol
    }

    /// The client as per-client policies (throttles, audit) key it: the address part of `peer`,
    /// an IPv4 address as is (`192.0.2.1`, also when written IPv4-mapped), an IPv6 address as its
    /// /64 (`2001:db8:1:2::/64`), so that rotating through the addresses of one's own /64 does
    /// not make one a new client. Anything else (`in-process`) unchanged.
    public var peerHost: String {
        let host: Substring
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") {
            host = peer[peer.index(after: peer.startIndex)..<end]
        } else if let colon = peer.lastIndex(of: ":"), peer.firstIndex(of: ":") == colon {
            return String(peer[..<colon])  // IPv4:port, the common case: no parsing
        } else {
            host = peer[...]
        }
        return IPAddress(host)?.clientKeyText ?? String(host)
    }
}

/// One entry of a server's method table: the server's dispatcher looks a call's method up by
/// `descriptor.fullName`, runs `handler` where `kind` says, and the transport sends back its bytes
/// or its error. A handler throws `RPCError` for an answer to the caller; any other error is sent
/// as INTERNAL with a generic message and logged by the dispatcher in full.
public struct ServerMethod: Sendable {
    public var descriptor: MethodDescriptor
    public var kind: HandlerKind
    /// How its messages flow; every `auth.v1.Auth` method is unary.
    public var shape: CallShape
    public var handler: @Sendable (_ request: [UInt8], _ context: ServerContext) throws -> [UInt8]

    public init(descriptor: MethodDescriptor, kind: HandlerKind, shape: CallShape = .unary,
                handler: @escaping @Sendable (_ request: [UInt8], _ context: ServerContext) throws -> [UInt8]) {
        self.descriptor = descriptor
        self.kind = kind
        self.shape = shape
        self.handler = handler
    }
}

/// Something a server can serve: a set of methods (generated code provides this per service).
public protocol RPCServiceProvider: Sendable {
    var methods: [ServerMethod] { get }
}
