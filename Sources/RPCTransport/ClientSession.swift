import CEpoll
import Dispatch
import Foundation
import Glibc
import RPCCore
import Support
import Synchronization

/// One TLS connection of a client and the I/O thread that owns it. Callers on any thread append
/// CALL frames to `outbound` and wake the thread if it sleeps; it writes them in batches, reads
/// replies and resumes the waiters. Ends (failing calls with UNAVAILABLE) when the connection drops.
///
/// Callback waiters run on the I/O thread, between reading replies and writing: calls they start
/// are appended to `outbound` and go out in the same loop iteration's write, with no wake-up
/// (the thread is not asleep then, and checks `outbound` under the lock before it sleeps).
final class ClientSession: Sendable {
    private struct State {
        var machine = ClientConnectionStateMachine<CallWaiter>()
        var outbound: [UInt8] = []
        var closeRequested = false
        var finished = false
        /// The encoded head of the last call without metadata, so a run of such calls to one method
        /// encodes it once (the method's wire name included).
        var plainHead: (method: MethodDescriptor, timeoutMillis: UInt32, bytes: [UInt8])?
    }

    private let state = Locked(State())
    /// The I/O thread is (about to be) asleep in poll: a caller that queues a frame must wake it.
    /// Set under `state`'s lock after seeing `outbound` empty, read and cleared under it by callers;
    /// the I/O thread clears it without the lock once poll returns (at worst a spare wake-up).
    private let sleeping = Atomic<Bool>(false)
    private let wakeFD: Int32
    /// Signalled once the I/O thread is done with TLS (its connection freed), see `waitUntilEnded`.
    private let ended = DispatchSemaphore(value: 0)
    let configuration: ClientConfiguration
    private let counters: ClientCounters

    init(configuration: ClientConfiguration, tls: TLSContext, counters: ClientCounters) throws(TransportError) {
        self.configuration = configuration
        self.counters = counters
        // eventfd returns -1 with EMFILE/ENOMEM.
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw TransportError.errno("eventfd") }
        var hello = WireProtocol.preface
        let settings = ConnectionSettings(maxFrameSize: UInt32(configuration.maxFrameSize),
                                          maxDecompressedSize: UInt32(configuration.maxDecompressedSize),
                                          compression: configuration.compression ? ConnectionSettings.zlib : 0)
        FrameEncoder.append(Frame(type: .settings, payload: settings.encode()), to: &hello)
        state.withLock { $0.outbound = hello }
        OSThread.detached(name: "rpc-client-io") { [self] in
            self.run(tls: tls)
            ended.signal()
        }
    }

    deinit {
        close(wakeFD)
    }

    /// Starts a call; `waiter` is resumed once with the reply or error. Throws (without resuming
    /// `waiter`) when this session takes no more calls, so the caller can retry on a new one.
    @discardableResult
    func start(_ method: MethodDescriptor, request: [UInt8], options: CallOptions, waiter: CallWaiter) throws(RPCError) -> UInt32 {
        let timeout = options.timeout ?? configuration.defaultTimeout
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var message = request
        var flags: FrameFlags = []
        if configuration.compression && request.count >= configuration.compressionThreshold
            && state.withLock({ $0.machine.peerAcceptsCompression }) {
            let deflated = MessageCompression.deflate(request)
            if deflated.count < request.count {
                message = deflated
                flags = .compressed
                counters.compressedRequests.increment()
            }
        }
        let timeoutMillis = timeout.map(Self.millis) ?? 0
        let (id, wake): (UInt32, Bool) = try state.withLock { (s: inout State) throws(RPCError) -> (UInt32, Bool) in
            guard !s.finished, !s.closeRequested else { throw RPCError.connectionFailure("connection closed") }
            guard message.count + 65 + method.service.utf8.count + method.method.utf8.count <= Int(s.machine.peerMaxFrameSize) else {
                throw RPCError(.resourceExhausted, "request larger than the server's frame limit")
            }
            let id = try s.machine.startCall(waiter, deadline: deadline).get()
            if options.metadata.isEmpty {
                let head: [UInt8]
                if let cached = s.plainHead, cached.timeoutMillis == timeoutMillis, cached.method == method {
                    head = cached.bytes
                } else {
                    var w = ByteWriter(capacity: 32 + method.service.utf8.count + method.method.utf8.count)
                    CallHead(method: method.fullName, timeoutMillis: timeoutMillis).encode(into: &w)
                    head = w.bytes
                    s.plainHead = (method, timeoutMillis, head)
                }
                // The CALL frame as FrameEncoder.appendCall writes it, with the head already encoded.
                FrameEncoder.appendHeader(type: .call, flags: flags, callID: id, length: head.count + message.count, to: &s.outbound)
                s.outbound.append(contentsOf: head)
                s.outbound.append(contentsOf: message)
            } else {
                let head = CallHead(method: method.fullName, timeoutMillis: timeoutMillis, metadata: options.metadata)
                FrameEncoder.appendCall(callID: id, head: head, message: message, flags: flags, to: &s.outbound)
            }
            guard sleeping.load(ordering: .relaxed) else { return (id, false) }
            sleeping.store(false, ordering: .relaxed)
            return (id, true)
        }
        if wake { self.wake() }
        return id
    }

    /// The caller gave up (task cancelled): fail the call with CANCELLED and tell the server.
    func cancel(callID: UInt32) {
        let waiter = state.withLock { s -> CallWaiter? in
            guard let waiter = s.machine.cancelCall(callID) else { return nil }
            FrameEncoder.append(Frame(type: .cancel, callID: callID), to: &s.outbound)
            return waiter
        }
        guard let waiter else { return }
        wake()
        waiter.resume(.failure(RPCError(.cancelled, "call cancelled")))
    }

    /// Waits until the I/O thread has stopped using TLS; false if `timeout` passed first.
    func waitUntilEnded(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let nanos = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        guard ended.wait(timeout: .now() + .nanoseconds(Int(clamping: nanos))) == .success else { return false }
        ended.signal()  // for any other waiter
        return true
    }

    /// Stops taking calls; closes once the calls in flight are answered.
    func shutdown() {
        state.withLock { $0.closeRequested = true }
        wake()
    }

    private func wake() {
        counters.wakeUps.increment()
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    static func millis(_ d: Duration) -> UInt32 {
        let (seconds, attoseconds) = d.components
        guard seconds >= 0 else { return 1 }
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return UInt32(clamping: max(1, ms))
    }

    // MARK: - I/O thread

    private func run(tls: TLSContext) {
        let connection: TLSConnection
        do {
            connection = try connect(tls: tls)
        } catch {
            finish(RPCError(.unavailable, "cannot connect to \(configuration.host):\(configuration.port): \(error)",
                           cause: CallNotProcessed(underlying: ConnectionFailure(underlying: error))))
            return
        }
        var decoder = FrameDecoder(maxFrameSize: configuration.maxFrameSize, expectsPreface: false)
        var pending: [UInt8] = []
        var pendingOffset = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        let fds = UnsafeMutablePointer<pollfd>.allocate(capacity: 2)
        defer { fds.deallocate() }
        // What the frames of one read asked for, applied outside the lock (reused, so no allocation a read).
        var actions: [ClientConnectionStateMachine<CallWaiter>.FrameAction] = []
        // One clock reading an iteration, taken when poll returns.
        var now = ContinuousClock.now
        var lastReceived = now
        var pingSentAt: ContinuousClock.Instant?
        var failure: RPCError?

        loop: while true {
            // Take what callers queued.
            let done = state.withLock { s -> Bool in
                if !s.outbound.isEmpty {
                    if pendingOffset == pending.count {
                        swap(&pending, &s.outbound)
                        pendingOffset = 0
                    } else {
                        pending.append(contentsOf: s.outbound)
                    }
                    s.outbound.removeAll(keepingCapacity: true)
                }
                return s.closeRequested && s.machine.callsInFlight == 0
                    || s.machine.goingAway && s.machine.callsInFlight == 0
            }
            if done && pendingOffset == pending.count { break loop }
            // Write as much as the socket takes.
            var wantWrite = false
            while pendingOffset < pending.count {
                do {
                    let r = try pending.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[pendingOffset...])) }
                    switch r {
                    case .done(let n): pendingOffset += n
                    case .wantWrite, .wantRead: wantWrite = true
                    case .closed: failure = RPCError.connectionFailure("server closed the connection"); break loop
                    }
                } catch {
                    failure = RPCError.connectionFailure("connection failed: \(error)", underlying: error)
                    break loop
                }
                if wantWrite { break }
            }
            if pendingOffset == pending.count {
                if pending.capacity > 64 * 1024 { pending = [] } else { pending.removeAll(keepingCapacity: true) }
                pendingOffset = 0
            }
            // Sleep until readable, woken, or the next deadline / keepalive.
            var until = now + .seconds(1)
            if let interval = configuration.keepaliveInterval {
                let next = pingSentAt.map { $0 + configuration.keepaliveTimeout } ?? lastReceived + interval
                until = min(until, next)
            }
            var deadlineBound: ContinuousClock.Instant?
            var awaitingReplies = false
            let sleep = state.withLock { s -> Bool in
                deadlineBound = s.machine.earliestDeadline
                awaitingReplies = s.machine.callsInFlight > 0
                guard s.outbound.isEmpty else { return false }
                sleeping.store(true, ordering: .relaxed)
                return true
            }
            if let deadlineBound { until = min(until, deadlineBound) }
            fds[0] = pollfd(fd: connection.fd, events: Int16(POLLIN) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0)
            fds[1] = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            if sleep && !connection.hasPendingBytes {
                let wait = until - now
                let ms = max(0, Int32(clamping: wait.components.seconds * 1000
                                        + wait.components.attoseconds / 1_000_000_000_000_000 + 1))
                // poll returns the ready count, 0 on timeout, or -1 with EINTR.
                if let spin = configuration.busyPoll, awaitingReplies,
                   spinUntilReady(fds, until: min(until, now + spin)) {
                    // ready without sleeping
                } else {
                    _ = poll(fds, 2, ms)
                }
                sleeping.store(false, ordering: .relaxed)
                if fds[1].revents != 0 {
                    var counter: UInt64 = 0
                    _ = read(wakeFD, &counter, 8)
                }
            } else {
                if sleep { sleeping.store(false, ordering: .relaxed) }
                fds[0].revents = Int16(POLLIN)
            }
            now = ContinuousClock.now
            // Read everything available; the frames of each read are applied under one lock.
            if fds[0].revents != 0 || connection.hasPendingBytes {
                reading: while true {
                    let r: TLSConnection.IOResult
                    do {
                        r = try connection.read(into: buffer)
                    } catch {
                        failure = RPCError.connectionFailure("connection failed: \(error)", underlying: error)
                        break loop
                    }
                    switch r {
                    case .done(let n):
                        lastReceived = now
                        pingSentAt = nil
                        decoder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                        let violation = state.withLock { s -> ProtocolViolation? in
                            while true {
                                let frame: Frame?
                                do throws(ProtocolViolation) {
                                    frame = try decoder.next()
                                } catch {
                                    return error
                                }
                                guard let frame else { return nil }
                                let action = s.machine.received(frame)
                                if case .none = action { continue }
                                actions.append(action)
                                if case .close = action { return nil }
                            }
                        }
                        if let error = apply(&actions, pending: &pending) {
                            failure = error
                            break loop
                        }
                        if violation == nil && !connection.hasPendingBytes {
                            // Write the calls the callbacks started before reading on: poll (level-
                            // triggered) reports what is left, and an empty socket costs no extra read.
                            break reading
                        }
                        if let violation {
                            var out: [UInt8] = []
                            FrameEncoder.append(Frame(type: .error, payload: ErrorPayload(status: violation.code, message: violation.message).encode()), to: &out)
                            _ = try? out.withUnsafeBytes { try connection.write($0) }
                            failure = RPCError.connectionFailure("protocol error from server: \(violation.message)")
                            break loop
                        }
                    case .wantRead, .wantWrite:
                        break reading
                    case .closed:
                        failure = RPCError.connectionFailure("server closed the connection")
                        break loop
                    }
                }
            }
            // Deadlines (only once the earliest may have passed) and keepalive.
            if let deadlineBound, deadlineBound <= now {
                let expired = state.withLock { s -> [(UInt32, CallWaiter)] in
                    let expired = s.machine.expireCalls(now: now)
                    for (id, _) in expired { FrameEncoder.append(Frame(type: .cancel, callID: id), to: &s.outbound) }
                    return expired
                }
                for (_, waiter) in expired { waiter.resume(.failure(RPCError(.deadlineExceeded, "deadline exceeded"))) }
            }
            if let interval = configuration.keepaliveInterval {
                if let sent = pingSentAt {
                    if now - sent > configuration.keepaliveTimeout {
                        failure = RPCError.connectionFailure("server did not answer keepalive PING")
                        break loop
                    }
                } else if now - lastReceived > interval {
                    pingSentAt = now
                    FrameEncoder.append(Frame(type: .ping, payload: [UInt8](repeating: 0, count: 8)), to: &pending)
                }
            }
        }
        connection.shutdown()
        finish(failure ?? RPCError.connectionFailure("connection closed"))
    }

    /// Carries out the frames' actions (resuming waiters: callbacks run here) and empties `actions`;
    /// returns an error when the connection must end.
    /// `ClientConfiguration.busyPoll`: polls without blocking until a descriptor is ready (true)
    /// or `until` passes (false), so a reply that comes soon is read without a wake-up.
    private func spinUntilReady(_ fds: UnsafeMutablePointer<pollfd>, until: ContinuousClock.Instant) -> Bool {
        repeat {
            // poll with timeout 0 returns at once: the ready count, 0, or -1 with EINTR.
            if poll(fds, 2, 0) > 0 { return true }
        } while ContinuousClock.now < until
        return false
    }

    private func apply(_ actions: inout [ClientConnectionStateMachine<CallWaiter>.FrameAction], pending: inout [UInt8]) -> RPCError? {
        defer { actions.removeAll(keepingCapacity: true) }
        for action in actions {
            switch action {
            case .none:
                break
            case .complete(let waiter, let reply):
                guard reply.head.status == .ok else {
                    waiter.resume(.failure(RPCError(reply.head.status, reply.head.message)))
                    break
                }
                if reply.compressed {
                    counters.compressedReplies.increment()
                    do {
                        waiter.resume(.success(try MessageCompression.inflate(reply.message, limit: configuration.maxDecompressedSize)))
                    } catch {
                        waiter.resume(.failure(error))
                    }
                } else {
                    waiter.resume(.success(reply.message))
                }
            case .sendPong(let payload):
                FrameEncoder.append(Frame(type: .pong, payload: payload), to: &pending)
            case .fail(let waiters, let error):
                for waiter in waiters { waiter.resume(.failure(error)) }
            case .close(let waiters, let error, _):
                for waiter in waiters { waiter.resume(.failure(error)) }
                return error
            }
        }
        return nil
    }

    private func finish(_ error: RPCError) {
        let waiters = state.withLock { s -> [CallWaiter] in
            s.finished = true
            return s.machine.connectionClosed(error)
        }
        for waiter in waiters { waiter.resume(.failure(error)) }
    }

    private func connect(tls: TLSContext) throws -> TLSConnection {
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
        let connection = try TLSConnection(context: tls, fd: fd, serverName: configuration.serverName ?? configuration.host,
                                           verifyName: configuration.tls.verifyPeer)
        var events = Int16(POLLOUT)
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { throw TransportError("TLS handshake timed out") }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            _ = poll(&p, 1, ms)
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
}

final class ClientCounters: Sendable {
    let compressedRequests = Atomic<Int>(0)
    let compressedReplies = Atomic<Int>(0)
    let connectionsOpened = Atomic<Int>(0)
    /// Times a caller woke the I/O thread through the eventfd (for tests: callbacks need none).
    let wakeUps = Atomic<Int>(0)
}
