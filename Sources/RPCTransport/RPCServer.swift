import CEpoll
import Dispatch
import Glibc
import Logging
import RPCCore
import RPCDispatch
import Support

/// The `authrpc/1` server: TLS over TCP, a few epoll I/O threads owning the connections, calls
/// handed to a `Dispatcher` (inline handlers on the I/O thread, blocking ones on its bounded
/// worker pool). No async runtime. One `ServerTransport`; `InProcessServer` is another.
///
/// ```swift
/// let server = try RPCServer(configuration: ServerConfiguration(port: 0, tls: .server(
///     certificateChainFile: "cert.pem", privateKeyFile: "key.pem")), services: [MyService()], logger: logger)
/// server.shutdownOnSignals(grace: .seconds(5))   // before start(): SIGTERM/SIGINT drain and stop
/// try server.start()
/// print(server.port)
/// server.waitUntilStopped()
/// ```
public final class RPCServer: ServerTransport {
    public let configuration: ServerConfiguration
    private let core: ServerCore

    private enum State {
        case idle
        case running(listenFD: Int32, port: Int, loops: [EventLoop], threads: [OSThread])
        case stopping(port: Int)
        case stopped(port: Int)
    }
    private let state = Locked(State.idle)
    private let stopped = DispatchGroup()
    private let metricsSocket = Locked<(fd: Int32, port: Int)?>(nil)
    private let signalThread = Locked<(thread: OSThread?, exiting: Bool, tid: pthread_t?)>((nil, false, nil))
    /// Held while a TLS reload builds and swaps its context, so two reloads cannot interleave.
    private let tlsReloads = Locked(())

    /// Builds the method table and the TLS context (throws `TLSError` on bad certificates);
    /// two methods with the same full name are a programming error.
    /// With `configuration.metricsListen`, calls are counted (`callMetrics`) and `metricsHandler`
    /// answers that listener's GET requests.
    public init(configuration: ServerConfiguration, services: [any RPCServiceProvider], logger: Logger,
                metricsHandler: MetricsHTTPHandler? = nil) throws {
        self.configuration = configuration
        let tls = try TLSContext(configuration: configuration.tls, isServer: true)
        let dispatcher = Dispatcher(services: services, workerThreads: configuration.workerThreads,
                                    workerQueueCapacity: configuration.limits.workerQueueCapacity,
                                    maxQueuedRequestBytes: configuration.limits.maxQueuedRequestBytes,
                                    countCalls: configuration.metricsListen != nil, accessLog: configuration.accessLog,
                                    logger: logger)
        core = ServerCore(dispatcher: dispatcher, limits: configuration.limits, tls: tls, logger: logger,
                          busyPoll: configuration.busyPoll, metricsHandler: metricsHandler)
    }

    /// Binds, listens and starts the I/O threads. Throws `TransportError` when the address cannot be bound.
    public func start() throws {
        try state.withLock { state throws in
            guard case .idle = state else { throw TransportError("server already started") }
            let (fd, port) = try Self.listen(host: configuration.host, port: configuration.port)
            var metrics: (fd: Int32, port: Int)?
            var loops: [EventLoop] = []
            do {
                if let address = configuration.metricsListen {
                    metrics = try Self.listen(host: address.host, port: address.port)
                }
                let limiter = AddressLimiter(limit: configuration.limits.maxConnectionsPerAddress)
                for i in 0..<max(1, configuration.ioThreads) {
                    loops.append(try EventLoop(index: i, core: core, listenFD: fd, metricsListenFD: metrics?.fd, addressLimiter: limiter,
                                               trustedProxies: configuration.trustedProxies))
                }
            } catch {
                close(fd)
                if let metrics { close(metrics.fd) }
                throw error
            }
            stopped.enter()
            let threads = loops.map { loop in OSThread(name: "rpc-io-\(loop.index)") { loop.run() } }
            state = .running(listenFD: fd, port: port, loops: loops, threads: threads)
            metricsSocket.withLock { $0 = metrics }
            core.logger.info("listening", metadata: ["address": "\(configuration.host):\(port)"])
            if let metrics, let address = configuration.metricsListen {
                core.logger.info("metrics listening", metadata: ["address": "\(address.host):\(metrics.port)"])
            }
        }
    }

    /// The bound port (the real one when 0 was asked); 0 before `start()`.
    public var port: Int {
        state.withLock {
            switch $0 {
            case .idle: 0
            case .running(_, let port, _, _), .stopping(let port), .stopped(let port): port
            }
        }
    }

    /// Re-reads the TLS files of `configuration.tls` (certificate chain, private key, trust roots
    /// for client certificates) into a new context, configured exactly as at start, and makes it
    /// the context of new handshakes. Connections already open keep the context they were made
    /// with (freed when the last of them closes). A failure (a file unreadable, garbage PEM, the
    /// key not matching the certificate) throws `TLSError` and changes nothing. Costs nothing per
    /// call: the context is read once per accepted connection. Safe from any thread.
    @discardableResult
    public func reloadTLS() throws(TLSError) -> TLSReload {
        try tlsReloads.withLock { _ throws(TLSError) in
            let fresh = try TLSContext(configuration: configuration.tls, isServer: true)
            let previous = core.replaceTLS(fresh)
            return TLSReload(previousCertificate: previous.certificate, certificate: fresh.certificate,
                             previousClientCANames: previous.clientCANameCount, clientCANames: fresh.clientCANameCount)
        }
    }

    /// The certificate new handshakes present.
    public var certificate: CertificateSummary? { core.tls.certificate }

    /// Counters since start.
    public var statistics: ServerStatistics { core.counters.snapshot }

    /// The metrics listener's bound port; nil without `metricsListen` or before `start()`.
    public var metricsPort: Int? { metricsSocket.withLock { $0?.port } }

    /// Calls counted by protocol, method and code; nil without `metricsListen`.
    public var callMetrics: CallMetrics? { core.dispatcher.callMetrics }

    /// Connections open now (TLS sessions, handshakes and PROXY headers under way).
    public var openConnections: Int { core.connectionCount.load(ordering: .relaxed) }

    /// Connections open now by wire protocol: those that chose gRPC (ALPN `h2`), and the rest
    /// (authrpc/1, and connections still in their TLS handshake or PROXY header).
    public var openConnectionsByProtocol: (authrpc: Int, grpc: Int) {
        let grpc = core.grpcConnectionCount.load(ordering: .relaxed)
        return (max(0, core.connectionCount.load(ordering: .relaxed) - grpc), grpc)
    }

    /// Blocking calls running and waiting on the worker pool, and the request bytes the waiting ones hold.
    public var workerQueue: (running: Int, queued: Int, queuedBytes: Int) {
        let load = core.dispatcher.workerLoad
        return (load.running, load.queued, core.dispatcher.queuedRequestBytes)
    }

    /// Graceful shutdown: stops accepting, sends GOAWAY on every connection, lets calls in flight
    /// finish for up to `grace`, closes everything and stops the threads. Blocks until done;
    /// a second caller waits for the first one's shutdown. Never call it from a handler (it joins
    /// the threads handlers run on): hand it to another thread.
    public func shutdown(grace: Duration = .seconds(5)) {
        let taken = state.withLock { state -> (Int32, [EventLoop], [OSThread])? in
            guard case .running(let fd, let port, let loops, let threads) = state else { return nil }
            state = .stopping(port: port)
            return (fd, loops, threads)
        }
        guard let (listenFD, loops, threads) = taken else {
            waitUntilStopped()
            return
        }
        core.logger.info("shutting down", metadata: ["grace": "\(grace)"])
        let deadline = ContinuousClock.now + grace
        let acknowledged = DispatchSemaphore(value: 0)
        for loop in loops {
            loop.post(.beginShutdown(deadline: deadline, accepted: { acknowledged.signal() }))
        }
        for _ in loops { acknowledged.wait() }
        close(listenFD)  // every loop has removed it from its epoll set
        if let metrics = metricsSocket.withLock({ $0 }) { close(metrics.fd) }
        for thread in threads { thread.join() }
        core.dispatcher.shutdown()
        state.withLock { state in
            if case .stopping(let port) = state { state = .stopped(port: port) }
        }
        stopSignalThread()
        core.logger.info("stopped")
        stopped.leave()
    }

    /// Blocks until the server has stopped (returns at once if it never started).
    public func waitUntilStopped() {
        stopped.wait()
    }

    /// Makes SIGTERM and SIGINT start a graceful shutdown and, when `onHangup` is given, SIGHUP
    /// call it (a reload; it must return quickly: hand the work to another thread). Call it from
    /// the main thread before `start()` and before creating other threads: it blocks these signals
    /// in the calling thread (threads created afterwards inherit that) and waits for them on a
    /// thread of its own.
    public func shutdownOnSignals(grace: Duration = .seconds(5), onHangup: (@Sendable () -> Void)? = nil) {
        let signals = [SIGTERM, SIGINT] + (onHangup == nil ? [] : [SIGHUP])
        OSThread.blockSignals(signals)
        signalThread.withLock { s in
            guard s.thread == nil else { return }
            s.thread = OSThread(name: "rpc-signals") { [self] in
                signalThread.withLock { $0.tid = pthread_self() }
                var set = sigset_t()
                sigemptyset(&set)
                for signal in signals { sigaddset(&set, signal) }
                while true {
                    var signal: Int32 = 0
                    // sigwait returns 0 with the signal number, or EINVAL for a bad set (a bug).
                    _ = sigwait(&set, &signal)
                    if signalThread.withLock({ $0.exiting }) { return }
                    if signal == SIGHUP, let onHangup {
                        core.logger.notice("signal received, reloading", metadata: ["signal": "\(signal)"])
                        onHangup()
                        continue
                    }
                    core.logger.notice("signal received, shutting down", metadata: ["signal": "\(signal)"])
                    DispatchQueue.global().async { self.shutdown(grace: grace) }
                    return
                }
            }
        }
    }

    /// Blocking calls running and waiting on the worker pool (for tests and metrics).
    var workerPoolLoad: (running: Int, queued: Int) { core.dispatcher.workerLoad }

    /// The thread waiting for signals, once `shutdownOnSignals` started it (tests direct signals at it).
    var signalWaiterThread: pthread_t? { signalThread.withLock { $0.tid } }

    /// Ends the signal thread and joins it (an unjoined thread keeps its resources: TSan reports
    /// it as a thread leak). The signal goes to the thread's own handle, valid until the join, so it
    /// is never sent to a thread that is gone; sent before the thread waits, it stays pending.
    private func stopSignalThread() {
        let thread = signalThread.withLock { s -> OSThread? in
            s.exiting = true
            defer { s.thread = nil }
            return s.thread
        }
        guard let thread else { return }
        thread.signal(SIGTERM)
        thread.join()
    }

    private static func listen(host: String, port: Int) throws(TransportError) -> (Int32, Int) {
        let address = try SocketAddress.resolve(host: host, port: port, passive: true)
        // socket/bind/listen return -1 with errno (EADDRINUSE, EACCES, EMFILE …).
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError.errno("socket") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = address.storage
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        }
        guard bound == 0 else {
            let error = TransportError.errno("bind \(host):\(port)")
            close(fd)
            throw error
        }
        guard Glibc.listen(fd, 1024) == 0 else {
            let error = TransportError.errno("listen")
            close(fd)
            throw error
        }
        var actual = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // getsockname fails only for a bad descriptor (a bug of ours).
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        precondition(named == 0, "getsockname failed")
        return (fd, SocketAddress.port(actual))
    }
}
