/// Options for one call made by a client.
public struct CallOptions: Sendable {
    /// How long the caller waits; the server is told and drops work past it. nil: the transport's default.
    public var timeout: Duration?
    /// Metadata sent with the call (for example `authorization`).
    public var metadata: Metadata

    public init(timeout: Duration? = nil, metadata: Metadata = Metadata()) {
        self.timeout = timeout
        self.metadata = metadata
    }

    /// Options carrying `authorization: Bearer <token>`.
    public static func bearer(_ token: String, timeout: Duration? = nil) -> CallOptions {
        CallOptions(timeout: timeout, metadata: ["authorization": "Bearer \(token)"])
    }
}

/// What a generated client calls through: sends one request's bytes and returns the reply's bytes,
/// or throws `RPCError` (UNAVAILABLE when the connection fails, DEADLINE_EXCEEDED on timeout,
/// otherwise the server's status). Implementations are thread-safe and may be shared.
public protocol ClientTransport: Sendable {
    /// Blocking form, for plain threads.
    func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) throws -> [UInt8]
    /// Async form, for Swift concurrency; never blocks a cooperative thread.
    func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8]
}
