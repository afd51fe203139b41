import CEpoll
import Logging
import RPCCore
import RPCDispatch

/// One accepted connection, owned by its event loop's thread: the TLS session, the frame decoder,
/// the protocol state machine and the buffered output. Not thread-safe by design.
final class ServerConnection {
    let id: UInt64
    let peer: String
    // unowned(unsafe): the loop owns this connection (its `connections` table) and outlives it;
    // only the loop's thread touches either. Saves a strong-retain check on every access.
    unowned(unsafe) let loop: EventLoop
    private let core: ServerCore
    private let tls: TLSConnection
    private var machine: ServerConnectionStateMachine
    private var decoder: FrameDecoder
    private var state = State.handshaking
    private var registeredEvents = EPOLLIN.rawValue
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var peerSubject: String?
    private var peerURISAN: String?
    /// gRPC over HTTP/2, when the handshake chose ALPN `h2` (nil: authrpc/1, with `machine` and `decoder`).
    private var grpc: GRPCSession?
    private let acceptedAt: ContinuousClock.Instant
    private var lastActivity: ContinuousClock.Instant
    private var lastWriteProgress: ContinuousClock.Instant
    /// When the frame the decoder holds part of was begun (nil: no partial frame, or reading paused).
    private var partialFrameSince: ContinuousClock.Instant?
    var isQueuedForFlush = false

    var fd: Int32 { tls.fd }
    private var pendingOutput: Int { output.count - outputOffset }

    /// Where the connection is, with what only that phase has: one value, so that no impossible
    /// combination (reading while failing, blocked writes while handshaking, …) can be written.
    private enum State {
        /// The TLS handshake is under way; nothing else happens.
        case handshaking
        /// Frames flow. `afterFlush` is `.close` once the last call of a connection going away was answered.
        case open(input: Input, output: Output, afterFlush: AfterFlush)
        /// An ERROR frame is queued: nothing more is read, and the connection closes once its output is out.
        case failing(output: Output)
        case closed
    }

    /// The reading side of an open connection.
    private enum Input: Equatable {
        case reading
        /// The last TLS read needs the socket writable (renegotiation, key update): read again on EPOLLOUT.
        case readWantsWrite
        /// Replies buffered for the peer went over `maxBufferedOutput`: read again once they are out.
        case pausedForOutput
    }

    /// The writing side: whether the last TLS write needs the socket writable again.
    private enum Output: Equatable { case ready, blocked }

    private enum AfterFlush: Equatable { case keepOpen, close }

    private var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    private var isHandshaking: Bool {
        if case .handshaking = state { return true }
        return false
    }

    /// Whether received frames are processed now: open and not paused.
    private var acceptsInput: Bool {
        if case .open(let input, _, _) = state { return input != .pausedForOutput }
        return false
    }

    private var input: Input? {
        if case .open(let input, _, _) = state { return input }
        return nil
    }

    private var outputBlocked: Bool {
        switch state {
        case .open(_, .blocked, _), .failing(.blocked): true
        default: false
        }
    }

    private func setInput(_ new: Input) {
        if case .open(_, let output, let afterFlush) = state { state = .open(input: new, output: output, afterFlush: afterFlush) }
    }

    private func setOutput(_ new: Output) {
        switch state {
        case .open(let input, _, let afterFlush): state = .open(input: input, output: new, afterFlush: afterFlush)
        case .failing: state = .failing(output: new)
        case .handshaking, .closed: break
        }
    }

    /// Close once the output is out (the last call of a connection going away was answered).
    private func closeWhenFlushed() {
        if case .open(let input, let output, _) = state { state = .open(input: input, output: output, afterFlush: .close) }
    }

    init(id: UInt64, loop: EventLoop, tls: TLSConnection, peer: String) {
        self.id = id
        self.loop = loop
        core = loop.core
        self.tls = tls
        self.peer = peer
        let limits = loop.core.limits
        machine = ServerConnectionStateMachine(maxCallsInFlight: limits.maxCallsInFlightPerConnection,
                                               maxBlockingCalls: limits.maxBlockingCallsPerConnection)
        decoder = FrameDecoder(maxFrameSize: limits.maxFrameSize, expectsPreface: true)
        let now = ContinuousClock.now
        acceptedAt = now
        lastActivity = now
        lastWriteProgress = now
    }

    // MARK: - Events

    func handle(events: UInt32) {
        guard !isClosed else { return }
        // HUP: the peer closed both directions; ERR: the socket failed. Nothing can reach it any
        // more, and level-triggered epoll would report this again and again while reading is paused.
        if events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            close()
            return
        }
        if isHandshaking {
            advanceHandshake()
            return
        }
        if events & EPOLLOUT.rawValue != 0 || outputBlocked { flush() }
        if events & EPOLLIN.rawValue != 0
            || (input == .readWantsWrite && events & EPOLLOUT.rawValue != 0) {
            readAvailable()
        }
        if pendingOutput > 0 { loop.markDirty(self) }
    }

    private func advanceHandshake() {
        do {
            switch try tls.handshake() {
            case .done:
                state = .open(input: .reading, output: .ready, afterFlush: .keepOpen)
                if tls.negotiatedALPN == GRPCWire.alpn {
                    grpc = GRPCSession(loop: loop, connectionID: id, peer: peer, peerSubject: tls.peerCertificateSubject,
                                       peerURISAN: tls.peerCertificateURISAN)
                    _ = core.grpcConnectionCount.add(1, ordering: .relaxed)
                    lastActivity = .now
                    drainGRPC()
                    readAvailable()
                    return
                }
                if let alpn = tls.negotiatedALPN, alpn != WireProtocol.alpn {
                    core.logger.info("wrong ALPN, closing", metadata: ["peer": "\(peer)"])
                    close()
                    return
                }
                peerSubject = tls.peerCertificateSubject
                peerURISAN = tls.peerCertificateURISAN
                lastActivity = .now
                let settings = ConnectionSettings(maxFrameSize: UInt32(core.limits.maxFrameSize),
                                                  maxDecompressedSize: UInt32(core.limits.maxDecompressedSize),
                                                  maxCallsInFlight: UInt32(core.limits.maxCallsInFlightPerConnection),
                                                  compression: ConnectionSettings.zlib)
                append(Frame(type: .settings, payload: settings.encode()))
                readAvailable()
                loop.markDirty(self)
            case .wantRead: setInterest(EPOLLIN.rawValue)
            case .wantWrite: setInterest(EPOLLOUT.rawValue)
            case .closed: close()
            }
        } catch {
            core.counters.tlsHandshakeFailures.increment()
            core.logger.debug("TLS handshake failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
            close()
        }
    }

    /// Resumes after a read budget ran out or output drained below the mark.
    func resumeReading() {
        switch state {
        case .open, .failing: break
        case .handshaking, .closed: return
        }
        readAvailable()
        if pendingOutput > 0 { loop.markDirty(self) }
    }

    private func readAvailable() {
        if input == .readWantsWrite { setInput(.reading) }
        var budget = 256 * 1024
        processFrames(UnsafeRawBufferPointer(start: nil, count: 0))
        while acceptsInput {
            let result: TLSConnection.IOResult
            do {
                result = try tls.read(into: loop.readBuffer)
            } catch {
                core.logger.debug("TLS read failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
                close()
                return
            }
            switch result {
            case .done(let n):
                loop.refreshClock()
                processFrames(UnsafeRawBufferPointer(rebasing: loop.readBuffer[0..<n]))
                budget -= n
                if budget <= 0 {
                    if tls.hasBufferedInput { loop.scheduleRead(self) }
                    return
                }
                // Nothing buffered in OpenSSL: the read-ahead took what the socket had, so another
                // read would most likely be an EAGAIN; level-triggered epoll reports anything newer.
                if !tls.hasBufferedInput { return }
            case .wantRead:
                return
            case .wantWrite:
                setInput(.readWantsWrite)
                updateInterest()
                return
            case .closed:
                close()
                return
            }
        }
    }

    /// Handles the frames of `chunk` (after any buffered ones) in place: the decoder copies only a
    /// partial frame at the end, or the rest when processing stops (closing, or reading paused).
    private func processFrames(_ chunk: UnsafeRawBufferPointer) {
        if let grpc {
            processGRPC(grpc, chunk)
            return
        }
        guard acceptsInput else {
            if !chunk.isEmpty { decoder.append(chunk) }
            partialFrameSince = nil
            return
        }
        var completedFrame = false
        defer { notePartialFrame(completedFrame: completedFrame) }
        do {
            try decoder.consume(chunk) { frame in
                completedFrame = true
                perform(machine.received(frame), frame)
                if pendingOutput > core.limits.maxBufferedOutput && acceptsInput {
                    setInput(.pausedForOutput)
                    updateInterest()
                }
                return acceptsInput
            }
        } catch {
            perform(machine.decodeFailed(error), nil)
        }
    }

    /// gRPC: nghttp2 takes every byte read; what it answers goes out with the next flush.
    private func processGRPC(_ grpc: GRPCSession, _ chunk: UnsafeRawBufferPointer) {
        guard !chunk.isEmpty else { return }
        let ok = grpc.receive(chunk)
        if !grpc.isIdle { lastActivity = loop.now }
        drainGRPC()
        if !ok {
            failAfterFlush()
        } else if pendingOutput > core.limits.maxBufferedOutput && acceptsInput {
            setInput(.pausedForOutput)
            updateInterest()
        }
    }

    /// Moves what the gRPC session has to send into the output; closes once it is out when the
    /// session is done (GOAWAY both ways, or a fatal one).
    private func drainGRPC() {
        guard let grpc, !isClosed else { return }
        noteOutputStart()
        if !grpc.drainOutput(into: &output) {
            failAfterFlush()
        } else if grpc.isDone {
            closeWhenFlushed()
        }
        loop.markDirty(self)
    }

    /// Nothing more is read; the connection closes once its output is out.
    private func failAfterFlush() {
        switch state {
        case .open(_, let output, _): state = .failing(output: output)
        case .failing, .handshaking, .closed: break
        }
        updateInterest()
        loop.markDirty(self)
    }

    /// Starts (or stops) the frame deadline: it runs from when a frame was begun while reading, and
    /// starts again with each frame completed. Whole frames kept while reading is paused do not count.
    private func notePartialFrame(completedFrame: Bool) {
        if decoder.bufferedCount == 0 || !acceptsInput {
            partialFrameSince = nil
        } else if completedFrame || partialFrameSince == nil {
            partialFrameSince = loop.now
        }
    }

    /// Performs what the state machine asked for; `frame` is the frame it was given (nil for a decoding failure).
    private func perform(_ action: ServerConnectionStateMachine.ViewAction, _ frame: FrameView?) {
        switch action {
        case .none:
            break
        case .startCall(let callID, let head, let compressed):
            startCall(callID: callID, head: head, payload: frame!.payload, compressed: compressed)
        case .reject(let callID, let status, let message):
            appendReply(callID: callID, .failure(status, message))
            if status == .resourceExhausted { core.counters.callsRejectedOverload.increment() }
        case .sendPong:
            append(Frame(type: .pong, payload: Array(frame!.payload)))
        case .cancelQueued(let cancellation):
            cancellation.cancel()
        case .protocolError(let violation):
            core.counters.protocolErrors.increment()
            core.logger.info("protocol error, closing", metadata: ["peer": "\(peer)", "reason": "\(violation.message)"])
            append(Frame(type: .error, payload: ErrorPayload(status: violation.code, message: violation.message).encode()))
            failAfterFlush()
        case .close:
            close()
        }
    }

    // MARK: - Calls

    /// Starts a call. A compressed request is inflated (bounded by the message limit) by whoever
    /// runs the call, and only once it runs: an inline call here, a blocking one on its worker,
    /// after it got a place (the connection's blocking-call cap, the worker queue, the queued-bytes
    /// budget). The uncompressed inline path (Validate) only copies the message.
    private func startCall(callID: UInt32, head: CallHeadView, payload: UnsafeRawBufferPointer, compressed: Bool) {
        let now = loop.now
        lastActivity = now  // only calls count as activity: keepalive PINGs do not keep a connection open
        guard let method = core.dispatcher.methods.lookup(UnsafeRawBufferPointer(rebasing: payload[head.method])) else {
            finish(callID: callID, reply: .failure(.unimplemented, "unknown method \(head.methodName(in: payload))"))
            return
        }
        let blocking = method.method.kind == .blocking
        if blocking, let refusal = machine.blockingCallRefusal {
            core.counters.callsRejectedOverload.increment()
            finish(callID: callID, reply: .failure(refusal.status, refusal.message))
            return
        }
        var request = Array(UnsafeRawBufferPointer(rebasing: payload[head.messageOffset...]))
        var inflateOnWorker: (@Sendable ([UInt8]) throws(RPCError) -> [UInt8])?
        if compressed {
            core.counters.compressedRequests.increment()
            let limit = core.limits.maxDecompressedSize
            if blocking {
                inflateOnWorker = { bytes throws(RPCError) in try MessageCompression.inflate(bytes, limit: limit) }
            } else {
                do {
                    request = try MessageCompression.inflate(request, limit: limit)
                } catch {
                    finish(callID: callID, reply: .failure(error.code, error.message))
                    return
                }
            }
        }
        let deadline = head.timeoutMillis > 0 ? now + .milliseconds(head.timeoutMillis) : nil
        let context = ServerContext(metadata: head.metadata(in: payload), deadline: deadline, peer: peer,
                                    peerCertificateSubject: peerSubject, peerCertificateURISAN: peerURISAN)
        let started = core.dispatcher.start(method, request: request, context: context, heldBytes: payload.count, ifBlocking: {
            // A CANCEL that comes while the call waits for a worker raises this flag: the worker skips it.
            let cancellation = CallCancellation()
            machine.queued(callID, cancellation: cancellation)
            let loop = self.loop, connectionID = id
            return BlockingCompletion(cancellation: cancellation, decodeRequest: inflateOnWorker) { reply in
                loop.post(.completed(connection: connectionID, callID: callID, reply: reply))
            }
        })
        switch started {
        case .replied(let reply):
            finish(callID: callID, reply: reply)
        case .queued:
            break
        case .overloaded(let reply):
            core.counters.callsRejectedOverload.increment()
            finish(callID: callID, reply: reply)
        }
    }

    /// A call finished: send its reply unless the caller cancelled it.
    func finish(callID: UInt32, reply: CallReply) {
        guard !isClosed else { return }
        if let grpc {
            grpc.finish(streamID: Int32(bitPattern: callID), reply: reply)
            lastActivity = loop.now
            drainGRPC()
            return
        }
        let action = machine.callCompleted(callID)
        lastActivity = loop.now
        if action.sendReply { appendReply(callID: callID, reply) }
        if action.closeAfterFlush { closeWhenFlushed() }
        loop.markDirty(self)
    }

    private func appendReply(callID: UInt32, _ reply: CallReply) {
        switch reply {
        case .success(let bytes):
            var message = bytes
            var flags: FrameFlags = []
            if machine.peerAcceptsCompression && bytes.count >= core.limits.compressionThreshold {
                let deflated = MessageCompression.deflate(bytes)
                if deflated.count < bytes.count {
                    message = deflated
                    flags = .compressed
                    core.counters.compressedReplies.increment()
                }
            }
            if 3 + message.count > Int(machine.peerMaxFrameSize) {
                appendReply(callID: callID, .failure(.resourceExhausted, "reply larger than the client's frame limit"))
                return
            }
            noteOutputStart()
            FrameEncoder.appendReply(callID: callID, status: .ok, message: message, flags: flags, to: &output)
        case .failure(let status, let text):
            noteOutputStart()
            FrameEncoder.appendReply(callID: callID, status: status, statusMessage: text, to: &output)
        }
    }

    private func append(_ frame: Frame) {
        noteOutputStart()
        FrameEncoder.append(frame, to: &output)
    }

    private func noteOutputStart() {
        if pendingOutput == 0 { lastWriteProgress = loop.now }
    }

    // MARK: - Output

    /// Writes buffered output: many frames in as few TLS writes as the socket takes.
    func flush() {
        switch state {
        case .open, .failing: setOutput(.ready)
        case .handshaking, .closed: return
        }
        while pendingOutput > 0 {
            let result: TLSConnection.IOResult
            do {
                result = try output.withUnsafeBytes { try tls.write(UnsafeRawBufferPointer(rebasing: $0[outputOffset...])) }
            } catch {
                core.logger.debug("TLS write failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
                close()
                return
            }
            switch result {
            case .done(let n):
                outputOffset += n
                lastWriteProgress = loop.now
            case .wantWrite, .wantRead:
                setOutput(.blocked)
                updateInterest()
                return
            case .closed:
                close()
                return
            }
        }
        // Everything is out: idle connections keep no output buffer.
        if output.capacity > 4096 { output = [] } else { output.removeAll(keepingCapacity: true) }
        outputOffset = 0
        switch state {
        case .failing, .open(_, _, .close):
            close()
            return
        default:
            break
        }
        if input == .pausedForOutput {
            setInput(.reading)
            updateInterest()
            readAvailable()
            if pendingOutput > 0 { loop.markDirty(self) }
        } else {
            updateInterest()
        }
    }

    private func updateInterest() {
        var events: UInt32 = 0
        switch state {
        case .open(let input, let output, _):
            if input != .pausedForOutput { events |= EPOLLIN.rawValue }
            if output == .blocked || input == .readWantsWrite { events |= EPOLLOUT.rawValue }
        case .failing(let output):
            if output == .blocked { events |= EPOLLOUT.rawValue }
        case .handshaking, .closed:
            return
        }
        setInterest(events)
    }

    private func setInterest(_ events: UInt32) {
        guard !isClosed, events != registeredEvents else { return }
        registeredEvents = events
        loop.updateInterest(self, events: events)
    }

    // MARK: - Lifecycle

    /// Graceful shutdown: GOAWAY, then close once the calls in flight are answered.
    func goAway(message: String) {
        switch state {
        case .closed: return
        case .handshaking: close(); return
        case .open, .failing: break
        }
        if let grpc {
            grpc.goAway(message: message)
            drainGRPC()
            return
        }
        let (frame, closeNow) = machine.goAway(message: message)
        if let frame { append(Frame(type: .goAway, payload: frame.encode())) }
        if closeNow { closeWhenFlushed() }
        loop.markDirty(self)
    }

    func checkTimers(now: ContinuousClock.Instant) {
        guard !isClosed else { return }
        if isHandshaking {
            if now - acceptedAt > core.limits.handshakeTimeout {
                core.counters.tlsHandshakeFailures.increment()
                core.logger.debug("TLS handshake timed out", metadata: ["peer": "\(peer)"])
                close()
            }
            return
        }
        // The handshake ends with the client's SETTINGS: TLS, preface and SETTINGS share one deadline.
        if (grpc.map { !$0.settingsReceived } ?? machine.isAwaitingSettings) && now - acceptedAt > core.limits.handshakeTimeout {
            core.logger.debug("no preface and SETTINGS in time, closing", metadata: ["peer": "\(peer)"])
            close()
            return
        }
        if let grpc, grpc.resetIncompleteRequests(now: now, limit: core.limits.frameTimeout) > 0 {
            core.logger.info("gRPC request left incomplete, stream reset", metadata: ["peer": "\(peer)"])
            drainGRPC()
        }
        if let since = partialFrameSince, now - since > core.limits.frameTimeout {
            core.logger.info("frame left incomplete, closing", metadata: ["peer": "\(peer)"])
            close()
            return
        }
        if pendingOutput > 0 && now - lastWriteProgress > core.limits.writeStallTimeout {
            core.counters.slowReadersCut.increment()
            core.logger.info("peer is not reading its replies, closing", metadata: ["peer": "\(peer)"])
            close()
            return
        }
        if (grpc?.isIdle ?? (machine.callsInFlight == 0)) && pendingOutput == 0 && now - lastActivity > core.limits.idleTimeout {
            goAway(message: "idle timeout")
        }
    }

    func close() {
        let wasHandshaking: Bool
        switch state {
        case .closed: return
        case .handshaking: wasHandshaking = true
        case .open, .failing: wasHandshaking = false
        }
        state = .closed
        machine.closed()
        if let grpc {
            grpc.close()
            _ = core.grpcConnectionCount.subtract(1, ordering: .relaxed)
        }
        if !wasHandshaking { tls.shutdown() }
        loop.remove(self)
        output = []
        outputOffset = 0
    }
}
