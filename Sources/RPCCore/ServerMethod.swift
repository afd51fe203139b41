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
    /// The peer's address, as `ip:port`.
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

    /// The address part of `peer` (without the port), for per-client policies.
    public var peerHost: String {
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") {
            return String(peer[peer.index(after: peer.startIndex)..<end])
        }
        if let colon = peer.lastIndex(of: ":"), peer.firstIndex(of: ":") == colon {
            return String(peer[..<colon])
        }
        return peer
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
