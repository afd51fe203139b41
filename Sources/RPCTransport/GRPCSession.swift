import CNghttp2
import Glibc
import Logging
import RPCCore
import RPCDispatch

/// gRPC over HTTP/2 on one accepted connection whose TLS handshake chose ALPN `h2`: an nghttp2
/// server session fed the connection's decrypted bytes (`receive`) and drained into its output
/// (`drainOutput`), so the connection's own TLS and epoll code does all the I/O. Calls go through
/// the server's shared `Dispatcher` with `wireProtocol == .grpc`. Used only on the connection's
/// event-loop thread.
final class GRPCSession {
    // nghttp2_session*: owned here, freed in deinit.
    private(set) var session: OpaquePointer!
    // unowned(unsafe): the loop owns the connection that owns this session, and outlives both.
    private unowned(unsafe) let loop: EventLoop
    private let core: ServerCore
    private let connectionID: UInt64
    private let peer: String
    private let peerSubject: String?
    private let peerURISAN: String?
    var streams: [Int32: GRPCStream] = [:]
    /// The stream whose header block is being received (set by its HEADERS frame, cleared when the
    /// block is complete).
    private var receivingHeaders: GRPCStream?
    private var blockingCalls: BlockingCallLimit
    /// The client's first SETTINGS came (its HTTP/2 handshake is over).
    private(set) var settingsReceived = false
    private var goingAway = false
    /// A flood was refused: GOAWAY ENHANCE_YOUR_CALM is queued and nothing more is read.
    private var refusedFlood = false
    private var pings: FrameRateLimit
    private var settingsFrames: FrameRateLimit
    private var resets: FrameRateLimit
    private var emptyFrames: FrameRateLimit

    /// The flood caps: frames of each kind a connection may send in a burst, and per second after it.
    static let pingLimit = (burst: 100, perSecond: 20)
    static let settingsLimit = (burst: 20, perSecond: 5)
    static let resetLimit = (burst: 200, perSecond: 50)
    static let emptyFrameLimit = (burst: 100, perSecond: 20)
    /// Largest HTTP/2 frame payload we accept (the protocol's minimum, 16 KiB).
    static let maxFrameSize = 16_384
    /// CONTINUATION frames allowed after one HEADERS: with the header-list cap, a header block costs
    /// a bounded amount to decode however it is cut up.
    static let maxContinuations = 4
    /// Per-stream flow-control window: a request message and its prefix fit in one round trip.
    static let initialWindowSize = 65_535

    init(loop: EventLoop, connectionID: UInt64, peer: String, peerSubject: String?, peerURISAN: String?) {
        self.loop = loop
        core = loop.core
        self.connectionID = connectionID
        self.peer = peer
        self.peerSubject = peerSubject
        self.peerURISAN = peerURISAN
        blockingCalls = BlockingCallLimit(limit: core.limits.maxBlockingCallsPerConnection)
        pings = FrameRateLimit(burst: Self.pingLimit.burst, perSecond: Self.pingLimit.perSecond)
        settingsFrames = FrameRateLimit(burst: Self.settingsLimit.burst, perSecond: Self.settingsLimit.perSecond)
        resets = FrameRateLimit(burst: Self.resetLimit.burst, perSecond: Self.resetLimit.perSecond)
        emptyFrames = FrameRateLimit(burst: Self.emptyFrameLimit.burst, perSecond: Self.emptyFrameLimit.perSecond)

        var callbacks: OpaquePointer?
        // nghttp2_session_callbacks_new / nghttp2_option_new return 0, or NGHTTP2_ERR_NOMEM.
        precondition(nghttp2_session_callbacks_new(&callbacks) == 0, "out of memory")
        defer { nghttp2_session_callbacks_del(callbacks) }
        Self.install(callbacks)
        var option: OpaquePointer?
        precondition(nghttp2_option_new(&option) == 0, "out of memory")
        defer { nghttp2_option_del(option) }
        // A peer that makes us queue SETTINGS/PING acknowledgements it never reads is cut off.
        nghttp2_option_set_max_outbound_ack(option, 100)
        nghttp2_option_set_max_settings(option, 16)
        nghttp2_option_set_max_continuations(option, Self.maxContinuations)
        // nghttp2's own rapid-reset limiter stays as a backstop behind ours (`resets`).
        nghttp2_option_set_stream_reset_rate_limit(option, UInt64(Self.resetLimit.burst * 2), UInt64(Self.resetLimit.perSecond * 2))
        nghttp2_option_set_no_closed_streams(option, 1)
        var created: OpaquePointer?
        // Returns 0, or NGHTTP2_ERR_NOMEM.
        precondition(nghttp2_session_server_new2(&created, callbacks, Unmanaged.passUnretained(self).toOpaque(), option) == 0,
                     "out of memory")
        session = created

        let limits = core.limits
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: UInt32(limits.maxCallsInFlightPerConnection)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(Self.initialWindowSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: UInt32(Self.maxFrameSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(limits.maxHeaderListSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        // Returns 0, or NGHTTP2_ERR_INVALID_ARGUMENT for a value out of range (a bug of ours) / NOMEM.
        let rc = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        precondition(rc == 0, "nghttp2_submit_settings failed: \(rc)")
    }

    deinit {
        nghttp2_session_del(session)
    }

    // MARK: - Driven by the connection

    /// Feeds received bytes to the session; false when the connection must end (a protocol error:
    /// whatever GOAWAY nghttp2 queued is still sent).
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return true }
        // Returns the bytes processed (all of them), or a negative nghttp2_error: a protocol
        // violation of the peer (BAD_CLIENT_MAGIC, FLOODED, …), NOMEM, or CALLBACK_FAILURE.
        let n = nghttp2_session_mem_recv(session, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count)
        if n < 0 {
            core.counters.protocolErrors.increment()
            core.logger.info("HTTP/2 protocol error, closing", metadata: [
                "peer": "\(peer)", "reason": "\(String(cString: nghttp2_strerror(Int32(n))))"])
            // Tell the peer why before closing (nghttp2 queues no GOAWAY for some errors, e.g. too
            // many CONTINUATIONs). Returns 0, or INVALID_STATE when one is already queued.
            let flood = Int32(n) == NGHTTP2_ERR_FLOODED.rawValue || Int32(n) == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue
            _ = nghttp2_session_terminate_session(session, flood ? NGHTTP2_ENHANCE_YOUR_CALM.rawValue : NGHTTP2_PROTOCOL_ERROR.rawValue)
            return false
        }
        return true
    }

    /// Appends what the session has to send (frames, replies, GOAWAY) to `output`.
    func drainOutput(into output: inout [UInt8]) -> Bool {
        while true {
            var data: UnsafePointer<UInt8>?
            // Returns the length of the next chunk (valid until the next call), 0 when nothing is
            // left, or a negative nghttp2_error (NOMEM, CALLBACK_FAILURE).
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { return false }
            guard n > 0, let data else { return true }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
    }

    /// Nothing more to read or write: GOAWAY went both ways with no stream left, or a fatal GOAWAY went out.
    var isDone: Bool {
        nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    /// No stream open (a stream whose call still runs stays in `streams` until its reply came).
    var isIdle: Bool { streams.isEmpty }

    /// Graceful shutdown: GOAWAY naming the last stream taken; those streams are answered, newer ones refused.
    func goAway(message: String) {
        guard !goingAway else { return }
        goingAway = true
        let text = Array(message.utf8)
        // Returns 0, or INVALID_ARGUMENT / NOMEM (bugs of ours).
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                                  NGHTTP2_NO_ERROR.rawValue, text, text.count)
    }

    /// A queued call's reply came back from a worker.
    func finish(streamID: Int32, reply: CallReply) {
        guard let stream = streams[streamID] else { return }
        callEnded(stream)
        if stream.closed {
            streams.removeValue(forKey: streamID)
            return
        }
        deliver(reply, on: stream)
    }

    /// Resets the streams whose unary request (or whose headers) did not all come within `limit`
    /// of their start (a slow-request client holding streams open); streams of reply-per-message
    /// methods may stay open. Returns how many were reset.
    func resetIncompleteRequests(now: ContinuousClock.Instant, limit: Duration) -> Int {
        var reset = 0
        for stream in streams.values where !stream.remoteEnded && !stream.finished && now - stream.openedAt > limit {
            if stream.method?.method.shape == .replyPerMessage { continue }
            stream.finished = true
            // Returns 0, or INVALID_ARGUMENT for stream 0 (impossible here) / NOMEM.
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_CANCEL.rawValue)
            reset += 1
        }
        return reset
    }

    /// The connection closes: queued calls are skipped by their workers.
    func close() {
        for stream in streams.values { stream.cancellation?.cancel() }
        streams.removeAll()
        receivingHeaders = nil
    }

    // MARK: - Callbacks

    private static func install(_ callbacks: OpaquePointer?) {
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, header, user in
            guard let header else { return 0 }
            return GRPCSession.from(user).beginFrame(header.pointee)
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            guard let frame else { return 0 }
            return GRPCSession.from(user).beginHeaders(CNghttp2_frame_stream_id(frame))
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            guard let frame, let name, let value else { return 0 }
            return GRPCSession.from(user).header(CNghttp2_frame_stream_id(frame),
                                                 UnsafeRawBufferPointer(start: name, count: nameLength),
                                                 UnsafeRawBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let frame else { return 0 }
            return GRPCSession.from(user).frameReceived(type: CNghttp2_frame_type(frame), flags: CNghttp2_frame_flags(frame),
                                                         streamID: CNghttp2_frame_stream_id(frame))
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, user in
            guard let data else { return 0 }
            return GRPCSession.from(user).dataReceived(streamID, UnsafeRawBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, user in
            GRPCSession.from(user).streamClosed(streamID)
            return 0
        }
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> GRPCSession {
        Unmanaged<GRPCSession>.fromOpaque(user!).takeUnretainedValue()
    }

    /// Counts the control frames that cost us work but carry no call, and ends a flood of them.
    private func beginFrame(_ header: nghttp2_frame_hd) -> Int32 {
        let now = loop.now
        let admitted: Bool
        switch UInt32(header.type) {
        case NGHTTP2_PING.rawValue: admitted = pings.admit(now: now)
        case NGHTTP2_SETTINGS.rawValue:
            admitted = header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 || settingsFrames.admit(now: now)
        case NGHTTP2_RST_STREAM.rawValue: admitted = resets.admit(now: now)
        case NGHTTP2_DATA.rawValue, NGHTTP2_CONTINUATION.rawValue:
            admitted = header.length > 0 || header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue | NGHTTP2_FLAG_END_HEADERS.rawValue) != 0
                || emptyFrames.admit(now: now)
        default: admitted = true
        }
        if !admitted && !refusedFlood {
            refusedFlood = true
            core.counters.protocolErrors.increment()
            core.logger.info("HTTP/2 flood refused, closing", metadata: ["peer": "\(peer)", "frame type": "\(header.type)"])
            // Queues GOAWAY ENHANCE_YOUR_CALM and ignores everything the peer sends after it.
            // Returns 0, or NOMEM / INVALID_STATE (already terminating).
            _ = nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
        return 0
    }

    private func beginHeaders(_ streamID: Int32) -> Int32 {
        guard streams[streamID] == nil else { return 0 }  // trailers of a request: ignored
        let stream = GRPCStream(id: streamID, maxMessageSize: core.limits.maxDecompressedSize, openedAt: loop.now)
        if goingAway {
            stream.refusal = .grpc(.unavailable, "server shutting down")
        } else if streams.count >= core.limits.maxCallsInFlightPerConnection {
            // Checked here as well as advertised (SETTINGS_MAX_CONCURRENT_STREAMS): it holds even
            // before the client has acknowledged our SETTINGS.
            stream.refusal = .grpc(.resourceExhausted, "too many calls in flight on this connection, try again later")
        }
        streams[streamID] = stream
        receivingHeaders = stream
        return 0
    }

    private func header(_ streamID: Int32, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Int32 {
        // A header block arrives whole (HEADERS + CONTINUATION): the stream begun last, without a lookup.
        let stream: GRPCStream
        if let current = receivingHeaders, current.id == streamID {
            stream = current
        } else if let found = streams[streamID] {
            stream = found
        } else {
            return 0
        }
        guard stream.method == nil, !stream.remoteEnded else { return 0 }
        stream.headerBytes += name.count + value.count + 32
        if stream.headerBytes > core.limits.maxHeaderListSize {
            if stream.refusal == nil {
                stream.refusal = .grpc(.resourceExhausted,
                                       "request headers larger than the server's limit (\(core.limits.maxHeaderListSize) bytes)")
            }
            return 0
        }
        guard stream.refusal == nil else { return 0 }
        if name.first == UInt8(ascii: ":") {
            if equals(name, ":path") {
                // Looked up in place: the path is copied only when it names no method (for the error).
                let slash = value.first == UInt8(ascii: "/")
                let named = UnsafeRawBufferPointer(rebasing: value.dropFirst(slash ? 1 : 0))
                stream.pathMethod = slash ? core.dispatcher.methods.lookup(named) : nil
                stream.unknownPath = stream.pathMethod == nil ? String(decoding: named, as: UTF8.self) : nil
            } else if equals(name, ":method") && !equals(value, "POST") {
                stream.refusal = .http(status: 405)
            }
        } else if equals(name, "content-type") {
            if !Self.isGRPCContentType(value) { stream.refusal = .http(status: 415) }
        } else if equals(name, "grpc-timeout") {
            guard let timeout = GRPCWire.parseTimeout(value) else {
                stream.refusal = .grpc(.invalidArgument, "malformed grpc-timeout")
                return 0
            }
            stream.timeout = timeout
        } else if equals(name, "grpc-encoding") {
            if !equals(value, "identity") {
                stream.refusal = .grpc(.unimplemented, "grpc-encoding \(String(decoding: value, as: UTF8.self)) is not supported (identity only)")
            }
        } else if equals(name, "te") || equals(name, "user-agent") || name.starts(with: "grpc-".utf8) {
            // Reserved by gRPC (te: trailers, grpc-accept-encoding, …) or part of the call's
            // definition (user-agent, which every client sends and no handler reads): not metadata.
        } else {
            stream.metadata.add(lowercasedKey: String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        return 0
    }

    /// `application/grpc`, optionally followed by `+proto` (or another subtype) or parameters.
    private static func isGRPCContentType(_ value: UnsafeRawBufferPointer) -> Bool {
        let prefix = "application/grpc".utf8
        guard value.starts(with: prefix) else { return false }
        if value.count == prefix.count { return true }
        let next = value[prefix.count]
        return next == UInt8(ascii: "+") || next == UInt8(ascii: ";")
    }

    private func frameReceived(type: UInt8, flags: UInt8, streamID: Int32) -> Int32 {
        switch UInt32(type) {
        case NGHTTP2_SETTINGS.rawValue:
            if flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { settingsReceived = true }
        case NGHTTP2_HEADERS.rawValue:
            receivingHeaders = nil
            guard let stream = streams[streamID] else { return 0 }
            if stream.method == nil && !stream.finished { headersComplete(stream) }
            if flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 { remoteEnded(stream) }
        case NGHTTP2_DATA.rawValue:
            if flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0, let stream = streams[streamID] { remoteEnded(stream) }
        default:
            break
        }
        return 0
    }

    // MARK: - Streams

    private func headersComplete(_ stream: GRPCStream) {
        if let refusal = stream.refusal {
            switch refusal {
            case .http(let status): respondHTTP(stream, status: status)
            case .grpc(let code, let message):
                if code == .resourceExhausted { core.counters.callsRejectedOverload.increment() }
                deliver(.failure(code, message), on: stream)
            }
            return
        }
        guard let method = stream.pathMethod else {
            deliver(.failure(.unimplemented, "unknown method \(stream.unknownPath ?? "")"), on: stream)
            return
        }
        stream.method = method
        if let timeout = stream.timeout { stream.deadline = loop.now + timeout }
    }

    private func dataReceived(_ streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = streams[streamID], let method = stream.method, !stream.finished else { return 0 }
        let unary = method.method.shape == .unary
        var extraMessage = false
        do {
            try stream.assembler.append(bytes) { message in
                if !unary {
                    stream.waiting.append(Array(message))
                } else if stream.unaryRequest == nil {
                    stream.unaryRequest = Array(message)
                } else {
                    extraMessage = true
                }
            }
        } catch {
            if error.code == .resourceExhausted { core.counters.callsRejectedOverload.increment() }
            deliver(.failure(error.code, error.message), on: stream)
            return 0
        }
        if extraMessage {
            deliver(.failure(.internalError, "more than one request message for a unary method"), on: stream)
            return 0
        }
        if method.method.shape == .replyPerMessage { startNext(stream) }
        return 0
    }

    private func remoteEnded(_ stream: GRPCStream) {
        stream.remoteEnded = true
        guard let method = stream.method, !stream.finished else { return }
        if stream.assembler.hasPartialMessage {
            deliver(.failure(.internalError, "request ended inside a message"), on: stream)
            return
        }
        switch method.method.shape {
        case .unary:
            guard let request = stream.unaryRequest else {
                deliver(.failure(.internalError, "no request message for a unary method"), on: stream)
                return
            }
            stream.unaryRequest = nil
            start(method, request: request, on: stream)
        case .replyPerMessage:
            startNext(stream)
        }
    }

    /// A reply-per-message stream: the next waiting message's call, once the one before is
    /// answered; OK trailers once the client ended and every message is answered.
    func startNext(_ stream: GRPCStream) {
        guard !stream.callInFlight, !stream.finished, let method = stream.method else { return }
        if !stream.waiting.isEmpty {
            start(method, request: stream.waiting.removeFirst(), on: stream)
        } else if stream.remoteEnded {
            stream.trailers = (.ok, "")
            stream.finished = true
            if stream.responseStarted {
                // Returns 0, or INVALID_ARGUMENT when no data was deferred (then nothing to resume).
                _ = nghttp2_session_resume_data(session, stream.id)
            } else {
                submitTrailersOnly(stream, .ok, "")
            }
        }
    }

    private func start(_ method: MethodTable.Entry, request: [UInt8], on stream: GRPCStream) {
        let blocking = method.method.kind == .blocking
        if blocking, let refusal = blockingCalls.refusal {
            core.counters.callsRejectedOverload.increment()
            deliver(.failure(refusal.status, refusal.message), on: stream)
            return
        }
        let context = ServerContext(metadata: stream.metadata, deadline: stream.deadline, peer: peer,
                                    peerCertificateSubject: peerSubject, peerCertificateURISAN: peerURISAN,
                                    wireProtocol: .grpc)
        stream.callInFlight = true
        if blocking {
            stream.blockingInFlight = true
            blockingCalls.started()
        }
        let started = core.dispatcher.start(method, request: request, context: context, ifBlocking: {
            let cancellation = CallCancellation()
            stream.cancellation = cancellation
            let loop = self.loop, connectionID = self.connectionID, callID = UInt32(stream.id)
            return BlockingCompletion(cancellation: cancellation) { reply in
                loop.post(.completed(connection: connectionID, callID: callID, reply: reply))
            }
        })
        switch started {
        case .replied(let reply):
            callEnded(stream)
            deliver(reply, on: stream)
        case .queued:
            break
        case .overloaded(let reply):
            core.counters.callsRejectedOverload.increment()
            callEnded(stream)
            deliver(reply, on: stream)
        }
    }

    private func callEnded(_ stream: GRPCStream) {
        guard stream.callInFlight else { return }
        stream.callInFlight = false
        stream.cancellation = nil
        if stream.blockingInFlight {
            stream.blockingInFlight = false
            blockingCalls.ended()
        }
    }

    private func streamClosed(_ streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        stream.closed = true
        if stream.callInFlight {
            stream.cancellation?.cancel()  // a reset: a queued call is skipped; its reply is dropped
        } else {
            streams.removeValue(forKey: streamID)
        }
    }

    private func equals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && memcmp(bytes.baseAddress!, text.utf8Start, bytes.count) == 0
    }
}
