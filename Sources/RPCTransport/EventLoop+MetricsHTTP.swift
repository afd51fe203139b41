import CEpoll
import Glibc

/// The metrics listener on the event loops: its connections are accepted, read and answered
/// like the RPC ones (non-blocking, on the loop's thread), without TLS; they do not count
/// against the RPC connection limits.
extension EventLoop {
    /// Open metrics connections per loop; one more is closed at accept.
    static let maxMetricsConnections = 64

    func acceptMetricsConnections() {
        guard let listenFD = metricsListenFD else { return }
        while true {
            var address = sockaddr_storage()
            guard let fd = accept(from: listenFD, token: Self.metricsListenToken, address: &address) else { return }
            guard let handler = core.metricsHandler, httpConnections.count < Self.maxMetricsConnections else {
                close(fd)
                continue
            }
            let id = nextID
            nextID += 1
            do {
                try add(fd: fd, events: EPOLLIN.rawValue, token: id)
            } catch {
                close(fd)
                continue
            }
            httpConnections[id] = MetricsHTTPConnection(id: id, fd: fd, acceptedAt: now, handler: handler)
        }
    }

    func handleMetrics(_ connection: MetricsHTTPConnection) {
        switch connection.handle(buffer: readBuffer) {
        case .keepReading: break
        case .waitWritable: modify(fd: connection.fd, events: EPOLLOUT.rawValue, token: connection.id)
        case .close: closeMetrics(connection)
        }
    }

    func checkMetricsTimers(now: ContinuousClock.Instant) {
        for connection in Array(httpConnections.values) where now - connection.acceptedAt > MetricsHTTPConnection.timeout {
            connection.timedOut()
            closeMetrics(connection)
        }
    }

    /// At shutdown: the listener leaves this loop's epoll set, open metrics connections close.
    func stopMetrics() {
        if let metricsListenFD { deleteFromEpoll(metricsListenFD) }
        for connection in Array(httpConnections.values) { closeMetrics(connection) }
    }

    private func closeMetrics(_ connection: MetricsHTTPConnection) {
        guard httpConnections.removeValue(forKey: connection.id) != nil else { return }
        deleteFromEpoll(connection.fd)
        close(connection.fd)
    }
}
