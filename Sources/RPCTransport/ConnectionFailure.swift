import RPCCore

/// The `cause` of an UNAVAILABLE `RPCError` that the client made itself because the connection
/// failed (could not connect, TLS failed, the server closed it or stopped answering), as opposed
/// to an UNAVAILABLE the server sent. Tools tell "could not reach the server" from "the server
/// refused" by it (authctl's exit code 3).
public struct ConnectionFailure: Error, Sendable, CustomStringConvertible {
    public var underlying: (any Error & Sendable)?
    public init(underlying: (any Error & Sendable)? = nil) { self.underlying = underlying }
    public var description: String { "connection failure" + (underlying.map { ": \($0)" } ?? "") }
}

extension RPCError {
    /// An UNAVAILABLE error for a failed connection (see `ConnectionFailure`).
    static func connectionFailure(_ message: String, underlying: (any Error & Sendable)? = nil) -> RPCError {
        RPCError(.unavailable, message, cause: ConnectionFailure(underlying: underlying))
    }

    /// Whether the client could not reach the server or lost the connection (rather than the
    /// server answering with a status).
    public var isConnectionFailure: Bool {
        if cause is ConnectionFailure { return true }
        if let notProcessed = cause as? CallNotProcessed { return notProcessed.underlying is ConnectionFailure }
        return false
    }
}
