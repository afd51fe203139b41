import CEpoll
import Glibc

/// How a client reaches a server and greets it: TCP connect, TLS handshake (ALPN checked), and the
/// hello it sends first. `ClientSession` and `IdleConnections` both use it, so a held idle
/// connection looks to the server exactly like a `ClientConnection` that has not called yet.
enum ClientConnector {
    /// The bytes a client sends first: the protocol preface, then SETTINGS announcing the frame and
    /// decompressed-size limits of `configuration` and zlib when it allows compression.
    static func hello(_ configuration: ClientConfiguration) -> [UInt8] {
        var hello = WireProtocol.preface
        let settings = ConnectionSettings(maxFrameSize: UInt32(configuration.maxFrameSize),
                                          maxDecompressedSize: UInt32(configuration.maxDecompressedSize),
                                          compression: configuration.compression ? ConnectionSettings.zlib : 0)
        FrameEncoder.append(Frame(type: .settings, payload: settings.encode()), to: &hello)
        return hello
    }

    /// A TLS connection to the server of `configuration`, handshake done, on a non-blocking socket
    /// with TCP_NODELAY. Throws `TransportError` (resolution, connect, time-out) or `TLSError`
    /// (handshake) when `configuration.connectTimeout` passes or the server cannot be reached.
    static func connect(_ configuration: ClientConfiguration, tls: TLSContext) throws -> TLSConnection {
        let deadline = ContinuousClock.now + configuration.connectTimeout
        let address = try SocketAddress.resolve(host: configuration.host, port: configuration.port, passive: false)
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError.errno("socket") }
        var storage = address.storage
        // connect on a non-blocking socket returns -1 with EINPROGRESS, then completes in the background.
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if rc != 0 && CEpoll_errno() != EINPROGRESS {
            let error = TransportError.errno("connect")
            close(fd)
            throw error
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // From here the connection owns `fd`.
        let connection = try TLSConnection(context: tls, fd: fd, serverName: configuration.serverName ?? configuration.host,
                                           verifyName: configuration.tls.verifyPeer)
        var events = Int16(POLLOUT)
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { throw TransportError("TLS handshake timed out") }
            var p = pollfd(fd: fd, events: events, revents: 0)
            // poll returns the ready count, 0 on timeout, or -1 with EINTR: the loop looks again either way.
            _ = poll(&p, 1, pollMillis(remaining))
            if events == Int16(POLLOUT) && rc != 0 {
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                if soError != 0 { throw TransportError("connect failed: \(String(cString: strerror(soError)))") }
            }
            switch try connection.handshake() {
            case .done:
                if let alpn = connection.negotiatedALPN, alpn != WireProtocol.alpn {
                    throw TransportError("server chose ALPN \(alpn)")
                }
                return connection
            case .wantRead: events = Int16(POLLIN)
            case .wantWrite: events = Int16(POLLOUT)
            case .closed: throw TransportError("server closed the connection during the TLS handshake")
            }
        }
    }

    /// `d` as a poll timeout: whole milliseconds rounded up (one more), so poll does not wake early.
    static func pollMillis(_ d: Duration) -> Int32 {
        max(0, Int32(clamping: d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000 + 1))
    }
}
