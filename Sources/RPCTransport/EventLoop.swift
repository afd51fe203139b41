import CEpoll
import Glibc
import Logging
import RPCCore
import RPCDispatch
import Support

/// Messages other threads send to an event loop.
enum LoopMessage: Sendable {
    /// A `.blocking` call finished on a worker.
    case completed(connection: UInt64, callID: UInt32, reply: CallReply)
    /// Stop accepting, send GOAWAY everywhere, close connections as they drain, force-close at `deadline`.
    case beginShutdown(deadline: ContinuousClock.Instant, accepted: @Sendable () -> Void)
}

/// One I/O thread: an epoll set holding the shared listening socket, an eventfd for messages,
/// and the connections it accepted. Level-triggered; reads and writes are batched per connection.
final class EventLoop: @unchecked Sendable {
    // @unchecked Sendable: other threads touch only `post` (a locked mailbox plus an eventfd write).
    // Every other member is used only on the loop's own thread after `run()` starts.
    let index: Int
    let core: ServerCore
    private let epfd: Int32
    private let wakeFD: Int32
    private let listenFD: Int32
    /// The metrics listener's socket (plain HTTP), shared like `listenFD`; nil when off.
    let metricsListenFD: Int32?
    private let mailbox = Locked<[LoopMessage]>([])
    /// Open connections per client, shared with the server's other loops.
    private let addressLimiter: AddressLimiter
    /// Peers that must start with a PROXY protocol v2 header (`ServerConfiguration.trustedProxies`).
    private let trustedProxies: [IPNetwork]

    private static let listenToken: UInt64 = 0
    private static let wakeToken: UInt64 = 1
    static let metricsListenToken: UInt64 = 2

    private var connections: [UInt64: ServerConnection] = [:]
    /// Connections from a trusted proxy whose PROXY header is not read yet (no TLS so far).
    private var awaitingProxyHeader: [UInt64: ProxiedAccept] = [:]
    /// The client each connection counts against in `addressLimiter`.
    private var clientKeys: [UInt64: IPAddress] = [:]
    /// Connections to the metrics listener (MetricsHTTPConnection, EventLoop+MetricsHTTP.swift).
    var httpConnections: [UInt64: MetricsHTTPConnection] = [:]
    var nextID: UInt64 = 3
    private var dirty: [ServerConnection] = []
    private var pendingReads: [ServerConnection] = []
    private var shuttingDown = false
    private var graceDeadline: ContinuousClock.Instant?
    private var lastTick = ContinuousClock.now
    /// The time when the current iteration's events were returned, refreshed after each TLS read
    /// (`refreshClock`): one clock read per batch of frames instead of several per call. Deadlines
    /// ("counted from when the server reads the frame") and activity stamps use it.
    private(set) var now = ContinuousClock.now
    /// Listeners (and their tokens) taken out of the epoll set when descriptors ran out, so their
    /// level-triggered readiness does not spin the loop; put back at the next tick.
    private var pausedListeners: [(fd: Int32, token: UInt64)] = []
    /// Shared receive buffer: connections copy only what a frame still lacks.
    let readBuffer: UnsafeMutableRawBufferPointer

    init(index: Int, core: ServerCore, listenFD: Int32, metricsListenFD: Int32? = nil, addressLimiter: AddressLimiter,
         trustedProxies: [IPNetwork]) throws(TransportError) {
        self.index = index
        self.core = core
        self.listenFD = listenFD
        self.metricsListenFD = metricsListenFD
        self.addressLimiter = addressLimiter
        self.trustedProxies = trustedProxies
        // epoll_create1 / eventfd return -1 with errno (EMFILE, ENOMEM).
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw TransportError.errno("epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { close(epfd); throw TransportError.errno("eventfd") }
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        try add(fd: wakeFD, events: EPOLLIN.rawValue, token: Self.wakeToken)
        try add(fd: listenFD, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, token: Self.listenToken)
        if let metricsListenFD {
            try add(fd: metricsListenFD, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, token: Self.metricsListenToken)
        }
    }

    deinit {
        close(epfd)
        close(wakeFD)
        readBuffer.deallocate()
    }

    /// Hands a message to the loop from any thread.
    func post(_ message: LoopMessage) {
        let wasEmpty = mailbox.withLock { box -> Bool in
            box.append(message)
            return box.count == 1
        }
        if wasEmpty {
            var one: UInt64 = 1
            // write on an eventfd fails only with EAGAIN at a counter of 2^64-2: impossible here.
            _ = write(wakeFD, &one, 8)
        }
    }

    /// The thread body: runs until shut down and every connection is closed.
    func run() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        while !(shuttingDown && connections.isEmpty) {
            let timeout: Int32 = !pendingReads.isEmpty ? 0 : (shuttingDown ? 20 : 250)
            // epoll_wait returns the ready count, or -1 with EINTR (a signal) or a bug of ours.
            var n = epoll_wait(epfd, events, Int32(capacity), core.busyPoll == nil ? timeout : 0)
            if n == 0 && timeout > 0, let spin = core.busyPoll {
                n = spinThenWait(events, capacity: capacity, for: spin, timeout: timeout)
            }
            if n < 0 {
                let e = CEpoll_errno()
                precondition(e == EINTR, "epoll_wait failed: \(e)")
                continue
            }
            now = .now
            let reads = pendingReads
            pendingReads.removeAll(keepingCapacity: true)
            for connection in reads { connection.resumeReading() }
            for i in 0..<Int(n) {
                let token = events[i].data.u64
                let flags = events[i].events
                switch token {
                case Self.listenToken: acceptConnections()
                case Self.wakeToken: drainMailbox()
                case Self.metricsListenToken: acceptMetricsConnections()
                default:
                    if let connection = connections[token] {
                        connection.handle(events: flags)
                    } else if let http = httpConnections[token] {
                        handleMetrics(http)
                    } else {
                        readProxyHeader(token)
                    }
                }
            }
            flushDirty()
            now = .now
            if now - lastTick >= .milliseconds(shuttingDown ? 20 : 250) {
                lastTick = now
                checkTimers(now: now)
                flushDirty()
            }
        }
    }

    /// `ServerConfiguration.busyPoll`: epoll_wait without blocking until something is ready or the
    /// spin time passes, then the usual blocking wait.
    private func spinThenWait(_ events: UnsafeMutablePointer<epoll_event>, capacity: Int, for spin: Duration,
                              timeout: Int32) -> Int32 {
        let end = ContinuousClock.now + spin
        repeat {
            // epoll_wait with timeout 0 returns at once: the ready count, 0, or -1 (EINTR).
            let n = epoll_wait(epfd, events, Int32(capacity), 0)
            if n != 0 { return n }
        } while ContinuousClock.now < end
        return epoll_wait(epfd, events, Int32(capacity), timeout)
    }

    // MARK: - Connections' requests

    /// Reads the clock again: bytes just arrived, and their calls' deadlines count from now.
    func refreshClock() {
        now = .now
    }

    /// Queues a connection for a flush at the end of this loop iteration.
    func markDirty(_ connection: ServerConnection) {
        guard !connection.isQueuedForFlush else { return }
        connection.isQueuedForFlush = true
        dirty.append(connection)
    }

    /// Reads again next iteration (OpenSSL holds decrypted bytes the socket will not signal).
    func scheduleRead(_ connection: ServerConnection) {
        pendingReads.append(connection)
    }

    func updateInterest(_ connection: ServerConnection, events: UInt32) {
        modify(fd: connection.fd, events: events, token: connection.id)
    }

    func remove(_ connection: ServerConnection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        deleteFromEpoll(connection.fd)
        _ = core.connectionCount.subtract(1, ordering: .relaxed)
        if let client = clientKeys.removeValue(forKey: connection.id) { addressLimiter.release(client) }
    }

    // MARK: - Internals

    func add(fd: Int32, events: UInt32, token: UInt64) throws(TransportError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        // epoll_ctl ADD returns -1 with ENOMEM / ENOSPC (max_user_watches).
        guard epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) == 0 else { throw TransportError.errno("epoll_ctl ADD") }
    }

    /// Changes the events and token of an fd in the epoll set.
    func modify(fd: Int32, events: UInt32, token: UInt64) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        // EPOLL_CTL_MOD fails only for fds we did not add (a bug).
        let rc = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event)
        precondition(rc == 0, "epoll_ctl MOD failed: \(CEpoll_errno())")
    }

    private func flushDirty() {
        while !dirty.isEmpty {
            let batch = dirty
            dirty.removeAll(keepingCapacity: true)
            for connection in batch {
                connection.isQueuedForFlush = false
                connection.flush()
            }
        }
    }

    /// One connection waiting on `listenFD` (registered with `token`), its peer in `address`; nil
    /// when none is waiting or accept failed. Out of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM),
    /// the listener leaves the epoll set until the next tick (`pausedListeners`).
    func accept(from listenFD: Int32, token: UInt64, address: inout sockaddr_storage) -> Int32? {
        while true {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            // accept4 returns -1 with EAGAIN when none is waiting; EMFILE/ENFILE when out of descriptors.
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    CEpoll_accept4(listenFD, $0, &length, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                }
            }
            if fd >= 0 { return fd }
            let e = CEpoll_errno()
            if e == EINTR || e == ECONNABORTED { continue }
            if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                core.logger.warning("accept failed, pausing accepts", metadata: ["errno": "\(e)"])
                deleteFromEpoll(listenFD)
                pausedListeners.append((listenFD, token))
            } else if e != EAGAIN && e != EWOULDBLOCK {
                core.logger.warning("accept failed", metadata: ["errno": "\(e)"])
            }
            return nil
        }
    }

    private func acceptConnections() {
        guard !shuttingDown else { return }
        while true {
            var address = sockaddr_storage()
            guard let fd = accept(from: listenFD, token: Self.listenToken, address: &address) else { return }
            if core.connectionCount.add(1, ordering: .relaxed).newValue > core.limits.maxConnections {
                _ = core.connectionCount.subtract(1, ordering: .relaxed)
                core.counters.connectionsRefused.increment()
                close(fd)
                continue
            }
            let id = nextID
            nextID += 1
            let peerAddress = SocketAddress.ipAddress(address)
            if let peerAddress, trustedProxies.contains(where: { $0.contains(peerAddress) }) {
                // Its client is known once the header is read: admitted (or not) then.
                awaitingProxyHeader[id] = ProxiedAccept(fd: fd, proxyAddress: peerAddress, proxy: SocketAddress.describe(address),
                                                        acceptedAt: now)
                do {
                    try add(fd: fd, events: EPOLLIN.rawValue, token: id)
                } catch {
                    dropAwaitingProxyHeader(id)
                }
                continue
            }
            start(fd: fd, id: id, peer: SocketAddress.describe(address), client: peerAddress, registered: false)
        }
    }

    /// Admits an accepted connection against the per-address cap and starts its TLS session, or
    /// closes it. `registered`: `fd` is in the epoll set already (it waited for a PROXY header).
    private func start(fd: Int32, id: UInt64, peer: String, client: IPAddress?, registered: Bool) {
        let key = client?.clientKey
        if let key, case .refused(let report) = addressLimiter.admit(key, now: now) {
            core.counters.connectionsRefusedPerAddress.increment()
            if let report {
                core.logger.warning("connections refused: too many from one client", metadata: [
                    "client": "\(key.clientKeyText)", "open": "\(addressLimiter.limit)", "refused": "\(report)"])
            }
            closeAccepted(fd: fd, registered: registered)
            return
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let tls: TLSConnection
        do {
            tls = try TLSConnection(context: core.tls, fd: fd)  // owns fd from here, even when it throws
        } catch {
            // Closing fd took it out of the epoll set.
            _ = core.connectionCount.subtract(1, ordering: .relaxed)
            if let key { addressLimiter.release(key) }
            core.logger.warning("cannot start TLS", metadata: ["error": "\(error)"])
            return
        }
        core.counters.connectionsAccepted.increment()
        let connection = ServerConnection(id: id, loop: self, tls: tls, peer: peer)
        connections[id] = connection
        if let key { clientKeys[id] = key }
        guard !registered else { return }
        do {
            try add(fd: fd, events: EPOLLIN.rawValue, token: id)
        } catch {
            connections.removeValue(forKey: id)
            _ = core.connectionCount.subtract(1, ordering: .relaxed)
            if let key = clientKeys.removeValue(forKey: id) { addressLimiter.release(key) }
        }
    }

    /// Closes an accepted connection that never got a TLS session.
    private func closeAccepted(fd: Int32, registered: Bool) {
        if registered { deleteFromEpoll(fd) }
        close(fd)
        _ = core.connectionCount.subtract(1, ordering: .relaxed)
    }

    func deleteFromEpoll(_ fd: Int32) {
        var event = epoll_event()
        // EPOLL_CTL_DEL fails only for an fd not in the set; nothing to undo then.
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event)
    }

    // MARK: - PROXY protocol

    /// Reads what a trusted proxy's connection has of its PROXY header, byte-exact (the TLS
    /// bytes after it stay in the socket); once complete, the connection starts as the client
    /// it names. A malformed header, or a close, ends it.
    private func readProxyHeader(_ id: UInt64) {
        guard let pending = awaitingProxyHeader[id] else { return }
        switch pending.readHeader(using: readBuffer) {
        case .waiting:
            return
        case .closed:
            dropAwaitingProxyHeader(id)
        case .invalid(let reason):
            core.counters.protocolErrors.increment()
            core.logger.info("bad PROXY header from a trusted proxy, closing", metadata: [
                "proxy": "\(pending.proxy)", "reason": "\(reason)"])
            dropAwaitingProxyHeader(id)
        case .done(.proxied(let source, let port)):
            awaitingProxyHeader.removeValue(forKey: id)
            start(fd: pending.fd, id: id, peer: SocketAddress.describe(source, port: port), client: source, registered: true)
        case .done(.local):
            awaitingProxyHeader.removeValue(forKey: id)
            start(fd: pending.fd, id: id, peer: pending.proxy, client: pending.proxyAddress, registered: true)
        }
    }

    private func dropAwaitingProxyHeader(_ id: UInt64) {
        guard let pending = awaitingProxyHeader.removeValue(forKey: id) else { return }
        closeAccepted(fd: pending.fd, registered: true)
    }

    private func drainMailbox() {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        let messages = mailbox.withLock { box -> [LoopMessage] in
            defer { box.removeAll(keepingCapacity: true) }
            return box
        }
        for message in messages {
            switch message {
            case .completed(let connectionID, let callID, let reply):
                connections[connectionID]?.finish(callID: callID, reply: reply)
            case .beginShutdown(let deadline, let accepted):
                beginShutdown(deadline: deadline)
                accepted()
            }
        }
    }

    private func beginShutdown(deadline: ContinuousClock.Instant) {
        guard !shuttingDown else { return }
        shuttingDown = true
        graceDeadline = deadline
        deleteFromEpoll(listenFD)
        stopMetrics()
        for id in Array(awaitingProxyHeader.keys) { dropAwaitingProxyHeader(id) }
        for connection in Array(connections.values) {
            connection.goAway(message: "server shutting down")
        }
    }

    private func checkTimers(now: ContinuousClock.Instant) {
        if !pausedListeners.isEmpty && !shuttingDown {
            for listener in pausedListeners {
                try? add(fd: listener.fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, token: listener.token)
            }
            pausedListeners = []
        }
        if let graceDeadline, now >= graceDeadline {
            for connection in Array(connections.values) {
                core.logger.info("grace period over, closing", metadata: ["peer": "\(connection.peer)"])
                connection.close()
            }
            return
        }
        for connection in Array(connections.values) {
            connection.checkTimers(now: now)
        }
        checkMetricsTimers(now: now)
        for (id, pending) in awaitingProxyHeader where now - pending.acceptedAt > core.limits.handshakeTimeout {
            core.logger.debug("no PROXY header in time, closing", metadata: ["proxy": "\(pending.proxy)"])
            dropAwaitingProxyHeader(id)
        }
    }
}

/// A socket-level failure while setting up or running the server.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    static func errno(_ operation: String) -> TransportError {
        let code = CEpoll_errno()
        return TransportError("\(operation) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
    public var description: String { message }
}
