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
/// The I/O thread's loop runs five steps, each a method below: drain (take what callers queued),
/// write, wait (poll, after an optional busy-poll spin), read (decode replies, complete calls) and
/// expire (deadlines, keepalive).
///
/// Callback waiters run on the I/O thread, in the read step: calls they start are appended to
/// `outbound` and go out in the next drain and write, with no wake-up (the thread is not asleep
/// then, and checks `outbound` under the lock before it sleeps).
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
        let hello = ClientConnector.hello(configuration)
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
        _ = Glibc.write(wakeFD, &one, 8)
    }

    static func millis(_ d: Duration) -> UInt32 {
        let (seconds, attoseconds) = d.components
        guard seconds >= 0 else { return 1 }
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return UInt32(clamping: max(1, ms))
    }

    // MARK: - I/O thread

    /// What only the I/O thread touches, carried from one step of its loop to the next.
    private struct IOState {
        /// Frames taken from `State.outbound`, written from `pendingOffset` on.
        var pending: [UInt8] = []
        var pendingOffset = 0
        var decoder: FrameDecoder
        /// What the frames of one read asked for, applied outside the lock (reused, so no allocation a read).
        var actions: [ClientConnectionStateMachine<CallWaiter>.FrameAction] = []
        /// One clock reading an iteration, taken when the wait ends.
        var now: ContinuousClock.Instant
        var keepalive: ClientKeepalive
        /// No call in flight expires before this, as of the last wait (nil: none has a deadline).
        var deadlineBound: ContinuousClock.Instant?
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        /// The connection's socket and the wake-up eventfd, as poll takes them.
        let fds = UnsafeMutablePointer<pollfd>.allocate(capacity: 2)

        init(configuration: ClientConfiguration) {
            decoder = FrameDecoder(maxFrameSize: configuration.maxFrameSize, expectsPreface: false)
            now = ContinuousClock.now
            keepalive = ClientKeepalive(interval: configuration.keepaliveInterval, timeout: configuration.keepaliveTimeout, now: now)
        }

        var hasUnwritten: Bool { pendingOffset < pending.count }

        func deallocate() {
            readBuffer.deallocate()
            fds.deallocate()
        }
    }

    /// The I/O thread: connects, then runs the steps until the session is over, then fails what is left.
    private func run(tls: TLSContext) {
        let connection: TLSConnection
        do {
            connection = try ClientConnector.connect(configuration, tls: tls)
        } catch {
            finish(RPCError(.unavailable, "cannot connect to \(configuration.host):\(configuration.port): \(error)",
                           cause: CallNotProcessed(underlying: ConnectionFailure(underlying: error))))
            return
        }
        var io = IOState(configuration: configuration)
        defer { io.deallocate() }
        var failure: RPCError?
        do throws(RPCError) {
            while !drainOutbound(&io) {
                let socketFull = try writePending(&io, to: connection)
                if waitForEvents(&io, on: connection, wantWrite: socketFull) {
                    try readReplies(&io, from: connection)
                }
                try expireCalls(&io)
            }
        } catch {
            failure = error
        }
        connection.shutdown()
        finish(failure ?? RPCError.connectionFailure("connection closed"))
    }

    /// Drain: moves the frames callers queued into `io.pending`. True when the session is over: closing
    /// or going away with no call in flight, and nothing left to write.
    private func drainOutbound(_ io: inout IOState) -> Bool {
        let done = state.withLock { s -> Bool in
            if !s.outbound.isEmpty {
                if !io.hasUnwritten {
                    swap(&io.pending, &s.outbound)
                    io.pendingOffset = 0
                } else {
                    io.pending.append(contentsOf: s.outbound)
                }
                s.outbound.removeAll(keepingCapacity: true)
            }
            return s.closeRequested && s.machine.callsInFlight == 0
                || s.machine.goingAway && s.machine.callsInFlight == 0
        }
        return done && !io.hasUnwritten
    }

    /// Write: writes `io.pending` as far as the socket takes it. True when the socket is full (wait
    /// until it is writable); throws when the connection failed.
    private func writePending(_ io: inout IOState, to connection: TLSConnection) throws(RPCError) -> Bool {
        var socketFull = false
        while io.hasUnwritten {
            let offset = io.pendingOffset
            let result: TLSConnection.IOResult
            do {
                result = try io.pending.withUnsafeBytes { bytes throws(TLSError) in
                    try connection.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                }
            } catch {
                throw RPCError.connectionFailure("connection failed: \(error)", underlying: error)
            }
            switch result {
            case .done(let n): io.pendingOffset += n
            case .wantWrite, .wantRead: socketFull = true
            case .closed: throw RPCError.connectionFailure("server closed the connection")
            }
            if socketFull { break }
        }
        if !io.hasUnwritten {
            if io.pending.capacity > 64 * 1024 { io.pending = [] } else { io.pending.removeAll(keepingCapacity: true) }
            io.pendingOffset = 0
        }
        return socketFull
    }

    /// Wait: sleeps in poll (after spinning for `busyPoll` when calls are in flight) until the socket is
    /// readable, a caller wakes the thread, or the next deadline or keepalive check is due; does not
    /// sleep when callers queued frames or OpenSSL holds decrypted bytes. Sets `io.now`; true when
    /// there may be something to read.
    private func waitForEvents(_ io: inout IOState, on connection: TLSConnection, wantWrite: Bool) -> Bool {
        var until = io.now + .seconds(1)
        if let keepalive = io.keepalive.nextCheck { until = min(until, keepalive) }
        var deadlineBound: ContinuousClock.Instant?
        var awaitingReplies = false
        let sleep = state.withLock { s -> Bool in
            deadlineBound = s.machine.earliestDeadline
            awaitingReplies = s.machine.callsInFlight > 0
            guard s.outbound.isEmpty else { return false }
            sleeping.store(true, ordering: .relaxed)
            return true
        }
        io.deadlineBound = deadlineBound
        if let deadlineBound { until = min(until, deadlineBound) }
        let fds = io.fds
        fds[0] = pollfd(fd: connection.fd, events: Int16(POLLIN) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0)
        fds[1] = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
        if sleep && !connection.hasPendingBytes {
            // poll returns the ready count, 0 on timeout, or -1 with EINTR.
            if let spin = configuration.busyPoll, awaitingReplies,
               spinUntilReady(fds, until: min(until, io.now + spin)) {
                // ready without sleeping
            } else {
                _ = poll(fds, 2, ClientConnector.pollMillis(until - io.now))
            }
            sleeping.store(false, ordering: .relaxed)
            if fds[1].revents != 0 {
                var counter: UInt64 = 0
                _ = Glibc.read(wakeFD, &counter, 8)
            }
        } else {
            if sleep { sleeping.store(false, ordering: .relaxed) }
            fds[0].revents = Int16(POLLIN)
        }
        io.now = ContinuousClock.now
        return fds[0].revents != 0 || connection.hasPendingBytes
    }

    /// `ClientConfiguration.busyPoll`: polls without blocking until a descriptor is ready (true)
    /// or `until` passes (false), so a reply that comes soon is read without a wake-up.
    private func spinUntilReady(_ fds: UnsafeMutablePointer<pollfd>, until: ContinuousClock.Instant) -> Bool {
        repeat {
            // poll with timeout 0 returns at once: the ready count, 0, or -1 with EINTR.
            if poll(fds, 2, 0) > 0 { return true }
        } while ContinuousClock.now < until
        return false
    }

    /// Read: reads everything available, decodes the frames of each read under one lock and carries
    /// out what they ask (replies complete their calls: callbacks run here). Stops once the socket is
    /// empty, so the calls callbacks started are written before reading on. Throws when the
    /// connection must end (sending ERROR first when the server broke the protocol).
    private func readReplies(_ io: inout IOState, from connection: TLSConnection) throws(RPCError) {
        while true {
            let result: TLSConnection.IOResult
            do {
                result = try connection.read(into: io.readBuffer)
            } catch {
                throw RPCError.connectionFailure("connection failed: \(error)", underlying: error)
            }
            switch result {
            case .done(let n):
                io.keepalive.received(at: io.now)
                io.decoder.append(UnsafeRawBufferPointer(rebasing: io.readBuffer[0..<n]))
                let violation = decodeFrames(&io)
                if let error = apply(&io.actions, pending: &io.pending) { throw error }
                if let violation {
                    var out: [UInt8] = []
                    FrameEncoder.append(Frame(type: .error, payload: ErrorPayload(status: violation.code, message: violation.message).encode()), to: &out)
                    _ = try? out.withUnsafeBytes { try connection.write($0) }
                    throw RPCError.connectionFailure("protocol error from server: \(violation.message)")
                }
                // Write the calls the callbacks started before reading on: poll (level-triggered)
                // reports what is left, and an empty socket costs no extra read.
                if !connection.hasPendingBytes { return }
            case .wantRead, .wantWrite:
                return
            case .closed:
                throw RPCError.connectionFailure("server closed the connection")
            }
        }
    }

    /// Feeds the decoded frames to the state machine under one lock, collecting their actions in
    /// `io.actions`; stops at a frame that closes the connection. Returns the server's protocol
    /// violation, if its bytes do not decode.
    private func decodeFrames(_ io: inout IOState) -> ProtocolViolation? {
        state.withLock { s -> ProtocolViolation? in
            while true {
                let frame: Frame?
                do throws(ProtocolViolation) {
                    frame = try io.decoder.next()
                } catch {
                    return error
                }
                guard let frame else { return nil }
                let action = s.machine.received(frame)
                if case .none = action { continue }
                io.actions.append(action)
                if case .close = action { return nil }
            }
        }
    }

    /// Carries out the frames' actions (resuming waiters: callbacks run here) and empties `actions`;
    /// returns an error when the connection must end.
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

    /// Expire: fails the calls whose deadline passed (only once the earliest may have, sending CANCEL
    /// for each), then keepalive: a PING after a quiet interval, or gives up on a server that did not answer it.
    private func expireCalls(_ io: inout IOState) throws(RPCError) {
        if let deadlineBound = io.deadlineBound, deadlineBound <= io.now {
            let now = io.now
            let expired = state.withLock { s -> [(UInt32, CallWaiter)] in
                let expired = s.machine.expireCalls(now: now)
                for (id, _) in expired { FrameEncoder.append(Frame(type: .cancel, callID: id), to: &s.outbound) }
                return expired
            }
            for (_, waiter) in expired { waiter.resume(.failure(RPCError(.deadlineExceeded, "deadline exceeded"))) }
        }
        switch io.keepalive.check(now: io.now) {
        case .none:
            break
        case .sendPing:
            FrameEncoder.append(Frame(type: .ping, payload: [UInt8](repeating: 0, count: 8)), to: &io.pending)
        case .timedOut:
            throw RPCError.connectionFailure("server did not answer keepalive PING")
        }
    }

    private func finish(_ error: RPCError) {
        let waiters = state.withLock { s -> [CallWaiter] in
            s.finished = true
            return s.machine.connectionClosed(error)
        }
        for waiter in waiters { waiter.resume(.failure(error)) }
    }
}

final class ClientCounters: Sendable {
    let compressedRequests = Atomic<Int>(0)
    let compressedReplies = Atomic<Int>(0)
    let connectionsOpened = Atomic<Int>(0)
    /// Times a caller woke the I/O thread through the eventfd (for tests: callbacks need none).
    let wakeUps = Atomic<Int>(0)
}
