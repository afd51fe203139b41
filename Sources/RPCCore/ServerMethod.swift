import Support

/// Where the server runs a handler (the same on every transport: authrpc/1, in-process, …).
public enum HandlerKind: Sendable, Equatable {
    /// Pure CPU and short (token validation): runs on the connection's I/O thread, no hand-off.
    case inline
    /// May block (password hashing, database): runs on the bounded worker pool.
    case blocking
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

    public init(metadata: Metadata = Metadata(), deadline: ContinuousClock.Instant? = nil,
                peer: String = "", peerCertificateSubject: String? = nil) {
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.peerCertificateSubject = peerCertificateSubject
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
    public var handler: @Sendable (_ request: [UInt8], _ context: ServerContext) throws -> [UInt8]

    public init(descriptor: MethodDescriptor, kind: HandlerKind,
                handler: @escaping @Sendable (_ request: [UInt8], _ context: ServerContext) throws -> [UInt8]) {
        self.descriptor = descriptor
        self.kind = kind
        self.handler = handler
    }
}

/// Something a server can serve: a set of methods (generated code provides this per service).
public protocol RPCServiceProvider: Sendable {
    var methods: [ServerMethod] { get }
}
