import CEpoll
import Logging
import RPCCore

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
    private var handshaking = true
    private var closed = false
    /// An ERROR was queued: read nothing more, close once it is out.
    private var closing = false
    private var closeAfterFlush = false
    private var readPaused = false
    private var readWantsWrite = false
    private var writeBlocked = false
    private var registeredEvents = EPOLLIN.rawValue
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var peerSubject: String?
    private let acceptedAt: ContinuousClock.Instant
    private var lastActivity: ContinuousClock.Instant
    private var lastWriteProgress: ContinuousClock.Instant
    var isQueuedForFlush = false

    var fd: Int32 { tls.fd }
    private var pendingOutput: Int { output.count - outputOffset }

    init(id: UInt64, loop: EventLoop, tls: TLSConnection, peer: String) {
        self.id = id
        self.loop = loop
        core = loop.core
        self.tls = tls
        self.peer = peer
        let limits = loop.core.limits
        machine = ServerConnectionStateMachine(maxCallsInFlight: limits.maxCallsInFlightPerConnection)
        decoder = FrameDecoder(maxFrameSize: limits.maxFrameSize, expectsPreface: true)
        let now = ContinuousClock.now
        acceptedAt = now
        lastActivity = now
        lastWriteProgress = now
    }

    // MARK: - Events

    func handle(events: UInt32) {
        guard !closed else { return }
        // HUP: the peer closed both directions; ERR: the socket failed. Nothing can reach it any
        // more, and level-triggered epoll would report this again and again while reading is paused.
        if events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            close()
            return
        }
        if handshaking {
            advanceHandshake()
            return
        }
        if events & EPOLLOUT.rawValue != 0 || writeBlocked { flush() }
        if events & EPOLLIN.rawValue != 0
            || (readWantsWrite && events & EPOLLOUT.rawValue != 0) {
            readAvailable()
        }
        if pendingOutput > 0 { loop.markDirty(self) }
    }

    private func advanceHandshake() {
        do {
            switch try tls.handshake() {
            case .done:
                handshaking = false
                if let alpn = tls.negotiatedALPN, alpn != WireProtocol.alpn {
                    core.logger.info("wrong ALPN, closing", metadata: ["peer": "\(peer)"])
                    close()
                    return
                }
                peerSubject = tls.peerCertificateSubject
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
            core.logger.debug("TLS handshake failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
            close()
        }
    }

    /// Resumes after a read budget ran out or output drained below the mark.
    func resumeReading() {
        guard !closed, !handshaking else { return }
        readAvailable()
        if pendingOutput > 0 { loop.markDirty(self) }
    }

    private func readAvailable() {
        readWantsWrite = false
        var budget = 256 * 1024
        processFrames(UnsafeRawBufferPointer(start: nil, count: 0))
        while !closed && !closing && !readPaused {
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
                readWantsWrite = true
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
        guard !closed && !closing && !readPaused else {
            if !chunk.isEmpty { decoder.append(chunk) }
            return
        }
        do {
            try decoder.consume(chunk) { frame in
                perform(machine.received(frame), frame)
                if pendingOutput > core.limits.maxBufferedOutput {
                    readPaused = true
                    updateInterest()
                }
                return !closed && !closing && !readPaused
            }
        } catch {
            perform(machine.decodeFailed(error))
        }
    }

    private func perform(_ action: ServerConnectionStateMachine.ViewAction, _ frame: FrameView) {
        switch action {
        case .none:
            break
        case .startCall(let callID, let head, let compressed):
            startCall(callID: callID, head: head, payload: frame.payload, compressed: compressed)
        case .reject(let callID, let status, let message):
            perform(.reject(callID: callID, status: status, message: message))
        case .sendPong:
            perform(.sendPong(Array(frame.payload)))
        case .protocolError(let violation):
            perform(.protocolError(violation))
        case .close:
            perform(.close)
        }
    }

    private func perform(_ action: ServerConnectionStateMachine.FrameAction) {
        switch action {
        case .none:
            break
        case .startCall:
            preconditionFailure("calls start through the FrameView path")
        case .reject(let callID, let status, let message):
            appendReply(callID: callID, .failure(status, message))
            if status == .resourceExhausted { core.counters.callsRejectedOverload.increment() }
        case .sendPong(let payload):
            append(Frame(type: .pong, payload: payload))
        case .protocolError(let violation):
            core.counters.protocolErrors.increment()
            core.logger.info("protocol error, closing", metadata: ["peer": "\(peer)", "reason": "\(violation.message)"])
            append(Frame(type: .error, payload: ErrorPayload(status: violation.code, message: violation.message).encode()))
            closing = true
            closeAfterFlush = true
            loop.markDirty(self)
        case .close:
            close()
        }
    }

    // MARK: - Calls

    private func startCall(callID: UInt32, head: CallHeadView, payload: UnsafeRawBufferPointer, compressed: Bool) {
        let now = loop.now
        lastActivity = now  // only calls count as activity: keepalive PINGs do not keep a connection open
        let deadline = head.timeoutMillis > 0 ? now + .milliseconds(head.timeoutMillis) : nil
        let message = UnsafeRawBufferPointer(rebasing: payload[head.messageOffset...])
        let request: [UInt8]
        if compressed {
            do {
                request = try MessageCompression.inflate(Array(message), limit: core.limits.maxDecompressedSize)
                core.counters.compressedRequests.increment()
            } catch {
                finish(callID: callID, reply: .failure(error.code, error.message))
                return
            }
        } else {
            request = Array(message)
        }
        guard let entry = core.methodTable.lookup(UnsafeRawBufferPointer(rebasing: payload[head.method])) else {
            finish(callID: callID, reply: .failure(.unimplemented, "unknown method \(head.methodName(in: payload))"))
            return
        }
        let method = entry.method
        let context = ServerContext(metadata: head.metadata(in: payload), deadline: deadline, peer: peer,
                                    peerCertificateSubject: peerSubject)
        switch method.kind {
        case .inline:
            finish(callID: callID, reply: core.run(method, request, context))
        case .blocking:
            let core = self.core, loop = self.loop, connectionID = id
            let accepted = core.pool.submit {
                let reply: HandlerReply
                if let deadline, ContinuousClock.now >= deadline {
                    reply = .failure(.deadlineExceeded, "deadline exceeded before the call ran")
                } else {
                    let result = core.run(method, request, context)
                    if let deadline, ContinuousClock.now >= deadline {
                        reply = .failure(.deadlineExceeded, "deadline exceeded")
                    } else {
                        reply = result
                    }
                }
                loop.post(.completed(connection: connectionID, callID: callID, reply: reply))
            }
            if !accepted {
                core.counters.callsRejectedOverload.increment()
                finish(callID: callID, reply: .failure(.resourceExhausted, "server overloaded, try again later"))
            }
        }
    }

    /// A call finished: send its reply unless the caller cancelled it.
    func finish(callID: UInt32, reply: HandlerReply) {
        guard !closed else { return }
        let action = machine.callCompleted(callID)
        lastActivity = loop.now
        if action.sendReply { appendReply(callID: callID, reply) }
        if action.closeAfterFlush { closeAfterFlush = true }
        loop.markDirty(self)
    }

    private func appendReply(callID: UInt32, _ reply: HandlerReply) {
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
        guard !closed, !handshaking else { return }
        writeBlocked = false
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
                writeBlocked = true
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
        if closeAfterFlush {
            close()
            return
        }
        if readPaused && !closing {
            readPaused = false
            updateInterest()
            readAvailable()
            if pendingOutput > 0 { loop.markDirty(self) }
        } else {
            updateInterest()
        }
    }

    private func updateInterest() {
        var events: UInt32 = 0
        if !readPaused && !closing { events |= EPOLLIN.rawValue }
        if writeBlocked || readWantsWrite { events |= EPOLLOUT.rawValue }
        setInterest(events)
    }

    private func setInterest(_ events: UInt32) {
        guard !closed, events != registeredEvents else { return }
        registeredEvents = events
        loop.updateInterest(self, events: events)
    }

    // MARK: - Lifecycle

    /// Graceful shutdown: GOAWAY, then close once the calls in flight are answered.
    func goAway(message: String) {
        guard !closed else { return }
        if handshaking {
            close()
            return
        }
        let (frame, closeNow) = machine.goAway(message: message)
        if let frame { append(Frame(type: .goAway, payload: frame.encode())) }
        if closeNow { closeAfterFlush = true }
        loop.markDirty(self)
    }

    func checkTimers(now: ContinuousClock.Instant) {
        guard !closed else { return }
        if handshaking {
            if now - acceptedAt > core.limits.handshakeTimeout {
                core.logger.debug("TLS handshake timed out", metadata: ["peer": "\(peer)"])
                close()
            }
            return
        }
        if pendingOutput > 0 && now - lastWriteProgress > core.limits.writeStallTimeout {
            core.counters.slowReadersCut.increment()
            core.logger.info("peer is not reading its replies, closing", metadata: ["peer": "\(peer)"])
            close()
            return
        }
        if machine.callsInFlight == 0 && pendingOutput == 0 && now - lastActivity > core.limits.idleTimeout {
            goAway(message: "idle timeout")
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        machine.closed()
        if !handshaking { tls.shutdown() }
        loop.remove(self)
        output = []
        outputOffset = 0
    }
}
