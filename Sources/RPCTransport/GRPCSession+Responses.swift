import CNghttp2
import RPCCore
import RPCDispatch

/// How a gRPC stream's answer goes out: response headers with the reply messages as DATA (pulled
/// by nghttp2 through `readData`) and trailers after them, or Trailers-Only for a failure, or a
/// bare HTTP status for a request that is not gRPC.
extension GRPCSession {
    /// Sends a call's outcome: a success as a message (then OK trailers for a unary call, or the
    /// next message's call for a stream); a failure as Trailers-Only, or as trailers after messages.
    func deliver(_ reply: CallReply, on stream: GRPCStream) {
        guard !stream.finished, !stream.closed else { return }
        switch reply {
        case .success(let message):
            GRPCWire.framed(message, into: &stream.outbound)
            let unary = stream.method?.method.shape != .replyPerMessage
            if unary {
                stream.trailers = (.ok, "")
                stream.finished = true
            }
            if stream.responseStarted {
                _ = nghttp2_session_resume_data(session, stream.id)
            } else {
                submitResponse(stream)
            }
            if !unary { startNext(stream) }
        case .failure(let code, let message):
            stream.finished = true
            stream.waiting.removeAll()
            if stream.responseStarted {
                stream.trailers = (code, message)
                _ = nghttp2_session_resume_data(session, stream.id)
            } else {
                submitTrailersOnly(stream, code, message)
            }
        }
    }

    func submitResponse(_ stream: GRPCStream) {
        stream.responseStarted = true
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, streamID, buffer, length, flags, _, user in
            guard let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            return GRPCSession.from(user).readData(streamID, buffer, length, flags)
        }
        let headers = StaticHeaderFields.response
        let rc = nghttp2_submit_response(session, stream.id, headers.fields, headers.count, &provider)
        // Returns 0, or INVALID_ARGUMENT / DATA_EXIST / PROTO for a stream already answered (a bug of ours), NOMEM.
        precondition(rc == 0, "nghttp2_submit_response failed: \(rc)")
    }

    /// nghttp2 asks for the next DATA bytes of `streamID`: the queued messages, then the trailers.
    func readData(_ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
                          _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[streamID] else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let available = stream.outbound.count - stream.outboundOffset
        let n = min(available, length)
        if n > 0 {
            stream.outbound.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + stream.outboundOffset, byteCount: n)
            }
            stream.outboundOffset += n
        }
        if stream.outboundOffset == stream.outbound.count {
            stream.outbound.removeAll(keepingCapacity: true)
            stream.outboundOffset = 0
            if let trailers = stream.trailers {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                // Returns 0, or INVALID_ARGUMENT / NOMEM.
                if trailers.status == .ok && trailers.message.isEmpty {
                    _ = nghttp2_submit_trailer(session, streamID, StaticHeaderFields.okTrailers.fields, StaticHeaderFields.okTrailers.count)
                } else {
                    let fields = Self.statusFields(trailers.status, trailers.message)
                    _ = withHeaderFields(fields) { nghttp2_submit_trailer(session, streamID, $0, $1) }
                }
            } else if n == 0 {
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        return n
    }

    func submitTrailersOnly(_ stream: GRPCStream, _ code: StatusCode, _ message: String) {
        stream.finished = true
        stream.responseStarted = true
        let fields = [(":status", Array("200".utf8)), ("content-type", Array("application/grpc".utf8))]
            + Self.statusFields(code, message)
        // Returns 0, or an error for a stream already answered or closed; nothing to do then.
        _ = withHeaderFields(fields) { nghttp2_submit_response(session, stream.id, $0, $1, nil) }
    }

    /// Not gRPC at all (wrong content-type, not a POST): a bare HTTP status, as the gRPC spec asks.
    func respondHTTP(_ stream: GRPCStream, status: Int) {
        stream.finished = true
        stream.responseStarted = true
        _ = withHeaderFields([(":status", Array(String(status).utf8))]) { nghttp2_submit_response(session, stream.id, $0, $1, nil) }
    }

    static func statusFields(_ code: StatusCode, _ message: String) -> [(String, [UInt8])] {
        var fields = [("grpc-status", Array(String(code.rawValue).utf8))]
        if !message.isEmpty { fields.append(("grpc-message", GRPCWire.percentEncode(message))) }
        return fields
    }

    /// Calls `body` with the fields as nghttp2 name/value pairs (nghttp2 copies them).
    func withHeaderFields(_ fields: [(String, [UInt8])],
                                  _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        var packed: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        for (name, value) in fields {
            let nameStart = packed.count
            packed.append(contentsOf: name.utf8)
            let valueStart = packed.count
            packed.append(contentsOf: value)
            spans.append((nameStart, valueStart - nameStart, valueStart, value.count))
        }
        return packed.withUnsafeBufferPointer { bytes in
            let base = bytes.baseAddress!
            let nv = spans.map { CNghttp2_nv(base + $0.0, $0.1, base + $0.2, $0.3) }
            return nv.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}

/// Header fields built once and never freed: the response headers and OK trailers every
/// successful call sends, handed to nghttp2 without copying.
final class StaticHeaderFields: @unchecked Sendable {
    // @unchecked Sendable: written only in init, read-only afterwards, never freed (static lets).
    let fields: UnsafeMutablePointer<nghttp2_nv>
    let count: Int

    private init(_ pairs: [(String, String)]) {
        count = pairs.count
        fields = .allocate(capacity: pairs.count)
        for (i, (name, value)) in pairs.enumerated() {
            let n = Array(name.utf8), v = Array(value.utf8)
            let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: n.count + v.count)
            bytes.initialize(from: n + v, count: n.count + v.count)
            (fields + i).initialize(to: CNghttp2_nv_static(bytes, n.count, bytes + n.count, v.count))
        }
    }

    static let response = StaticHeaderFields([(":status", "200"), ("content-type", "application/grpc")])
    static let okTrailers = StaticHeaderFields([("grpc-status", "0")])
}
