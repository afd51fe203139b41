import Glibc
import RPCCore
import Support

/// Connections to a server opened and then held without traffic, to load a server the way many
/// quiet clients do (`authctl bench --idle-connections`). Each does the TLS handshake and sends the
/// same hello as a `ClientConnection` (preface and SETTINGS), then holds its socket with no thread
/// or timer, so thousands cost this process little while the server carries them. They are not
/// read: the server's SETTINGS and keepalive PINGs stay in the socket buffers.
///
/// ```swift
/// let idle = try IdleConnections.open(count: 1_000, configuration: configuration)
/// defer { idle.close() }
/// ```
public final class IdleConnections: Sendable {
    private let held = Locked<[TLSConnection]>([])

    private init() {}

    /// Connections held now.
    public var count: Int { held.withLock { $0.count } }

    /// Opens `count` connections to the server of `configuration` from `threads` threads at once;
    /// `progress` is told each time one more is open (from those threads). When any cannot be opened
    /// (within `configuration.connectTimeout` each), closes those it opened and throws: `TLSError`
    /// for unusable TLS settings (files), an UNAVAILABLE `RPCError` (`isConnectionFailure`) otherwise.
    /// Each connection needs a file descriptor: the caller sees to the process's limit.
    public static func open(count: Int, configuration: ClientConfiguration, threads: Int = 4,
                            progress: (@Sendable (_ opened: Int) -> Void)? = nil) throws -> IdleConnections {
        let idle = IdleConnections()
        guard count > 0 else { return idle }
        let tls = try TLSContext(configuration: configuration.tls, isServer: false)
        let hello = ClientConnector.hello(configuration)
        // How many were started, and the first failure (which stops the others).
        let tally = Locked<(started: Int, failure: (any Error)?)>((0, nil))
        let openers = (0..<max(1, min(threads, count))).map { _ in
            OSThread(name: "rpc-idle-open") {
                while true {
                    let go = tally.withLock { p -> Bool in
                        guard p.failure == nil, p.started < count else { return false }
                        p.started += 1
                        return true
                    }
                    guard go else { return }
                    do {
                        let connection = try ClientConnector.connect(configuration, tls: tls)
                        try send(hello, on: connection, until: .now + configuration.connectTimeout)
                        let opened = idle.held.withLock { held -> Int in
                            held.append(connection)
                            return held.count
                        }
                        progress?(opened)
                    } catch {
                        tally.withLock { p in
                            if p.failure == nil { p.failure = error }
                        }
                    }
                }
            }
        }
        for opener in openers { opener.join() }
        if let failure = tally.withLock({ $0.failure }) {
            let opened = idle.count
            idle.close()
            throw RPCError.connectionFailure("cannot open idle connection \(opened + 1) of \(count) to "
                                             + "\(configuration.host):\(configuration.port): \(failure)", underlying: failure)
        }
        return idle
    }

    /// Closes every held connection (close_notify, then the socket).
    public func close() {
        let all = held.withLock { held -> [TLSConnection] in
            defer { held = [] }
            return held
        }
        for connection in all { connection.shutdown() }
    }

    deinit {
        close()
    }

    /// Writes all of `bytes` on a connection nobody else uses, waiting for the socket when it is
    /// full; throws `TransportError` when `deadline` passes first or the server closed, `TLSError` when TLS fails.
    private static func send(_ bytes: [UInt8], on connection: TLSConnection, until deadline: ContinuousClock.Instant) throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            let events: Int16
            switch result {
            case .done(let n): offset += n; continue
            case .wantWrite: events = Int16(POLLOUT)
            case .wantRead: events = Int16(POLLIN)
            case .closed: throw TransportError("server closed the connection")
            }
            let remaining = deadline - .now
            guard remaining > .zero else { throw TransportError("sending the hello timed out") }
            var p = pollfd(fd: connection.fd, events: events, revents: 0)
            // poll returns the ready count, 0 on timeout, or -1 with EINTR: the loop looks again either way.
            _ = poll(&p, 1, ClientConnector.pollMillis(remaining))
        }
    }
}
