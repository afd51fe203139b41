/// The lifecycle every server transport shares (the TLS `RPCServer`, the in-process server, and
/// any later wire protocol): each decodes calls its own way and hands them to a `Dispatcher`.
public protocol ServerTransport: AnyObject, Sendable {
    /// Counters the transport keeps (connections, overload, …), for tests and metrics.
    associatedtype Statistics: Sendable

    /// Starts taking calls (for a socket transport: binds, listens, starts its threads).
    func start() throws
    /// The bound port (the real one when 0 was asked); 0 before `start()` and for transports without a socket.
    var port: Int { get }
    /// Graceful shutdown: new calls are refused with UNAVAILABLE, calls in flight get up to `grace`
    /// to finish, then everything stops. Blocks until done; a second caller waits for the first.
    /// Never call it from a handler.
    func shutdown(grace: Duration)
    /// Blocks until the transport has stopped (returns at once if it never started).
    func waitUntilStopped()
    /// Counters since start.
    var statistics: Statistics { get }
}
