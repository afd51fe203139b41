import RPCCore

/// The `cause` of an UNAVAILABLE `RPCError` when the client knows the server never processed the
/// call: it was never sent (no connection could be made, the connection was already closing), or
/// the server's GOAWAY refused it (its id was above the GOAWAY's last call id, PROTOCOL.md 3.6).
/// Such a call is safe to retry elsewhere whatever it does.
public struct CallNotProcessed: Error, Sendable, CustomStringConvertible {
    /// What went wrong underneath, if anything more is known.
    public var underlying: (any Error & Sendable)?
    public init(underlying: (any Error & Sendable)? = nil) { self.underlying = underlying }
    public var description: String { "call not processed" + (underlying.map { ": \($0)" } ?? "") }
}

extension RPCError {
    /// Whether the server certainly did not process the call (see `CallNotProcessed`).
    public var callWasNotProcessed: Bool { cause is CallNotProcessed }

    /// This error, marked as one of a call the server never processed.
    func markedNotProcessed() -> RPCError {
        guard !callWasNotProcessed else { return self }
        var copy = self
        copy.cause = CallNotProcessed(underlying: cause)
        return copy
    }
}
