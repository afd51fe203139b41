import CNghttp2
import COpenSSL
import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport

/// A raw HTTP/2 client over TLS (ALPN `h2`) for the gRPC transport's tests: it writes frames byte
/// by byte (HPACK literals, no compression), so it can send what no real client would, and reads
/// the server's frames back, decoding header blocks with nghttp2's HPACK inflater. Blocking
/// socket with short read timeouts; loopback only.
final class H2TestClient {
    struct H2Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: [UInt8]
        var endStream: Bool { type <= 1 && flags & 0x1 != 0 }
    }

    /// A gRPC call's answer as received: response headers, DATA bytes, trailers (nil for Trailers-Only).
    struct Response {
        var headers: [String: String]
        var data: [UInt8]
        var trailers: [String: String]?
        /// The status: from the trailers, or from the headers of a Trailers-Only response.
        var grpcStatus: Int? { Int((trailers ?? headers)["grpc-status"] ?? "") }
        var grpcMessage: String? { (trailers ?? headers)["grpc-message"] }
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    enum FrameType: UInt8 { case data = 0, headers = 1, rstStream = 3, settings = 4, ping = 6, goAway = 7, windowUpdate = 8, continuation = 9 }

    let connection: TLSConnection
    private var inbound: [UInt8] = []
    private var inflater: OpaquePointer?
    private(set) var closed = false

    init(port: Int) throws {
        let certs = try TestCertificates.shared()
        let context = try TLSContext(configuration: .client(trustRootsFile: certs.caFile), isServer: false)
        let fd = try connectLoopback(port: port, readTimeout: 0.05, writeTimeout: 5)
        connection = try TLSConnection(context: context, fd: fd, serverName: "127.0.0.1")
        let alpn: [UInt8] = [2] + Array("h2".utf8)
        // Returns 0 on success (unlike most of OpenSSL).
        guard SSL_set_alpn_protos(connection.ssl, alpn, UInt32(alpn.count)) == 0 else { throw TestSetupError("ALPN") }
        for _ in 0..<100 where try connection.handshake() != .done(0) {}
        guard try connection.handshake() == .done(0) else { throw TestSetupError("handshake did not complete") }
        guard connection.negotiatedALPN == "h2" else { throw TestSetupError("server chose \(connection.negotiatedALPN ?? "no ALPN")") }
        precondition(nghttp2_hd_inflate_new(&inflater) == 0)
    }

    deinit { nghttp2_hd_inflate_del(inflater) }

    // MARK: - Writing

    static func frame(_ type: FrameType, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type.rawValue, flags,
                UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// An HPACK header block of literal fields without indexing (no Huffman coding).
    static func headerBlock(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0)
            appendString(name, to: &out)
            appendString(value, to: &out)
        }
        return out
    }

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        let bytes = Array(s.utf8)
        // HPACK integer with a 7-bit prefix (H = 0).
        if bytes.count < 127 {
            out.append(UInt8(bytes.count))
        } else {
            out.append(127)
            var rest = bytes.count - 127
            while rest >= 128 {
                out.append(UInt8(rest & 0x7F | 0x80))
                rest >>= 7
            }
            out.append(UInt8(rest))
        }
        out += bytes
    }

    static func requestFields(path: String, contentType: String = "application/grpc", extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", "POST"), (":scheme", "https"), (":path", path), (":authority", "127.0.0.1"),
         ("content-type", contentType), ("te", "trailers")] + extra
    }

    static func message(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        GRPCWire.framed(bytes, into: &out)
        return out
    }

    /// The connection preface and the client's SETTINGS.
    func start(settings: [(UInt16, UInt32)] = []) throws {
        var payload: [UInt8] = []
        for (id, value) in settings {
            payload += [UInt8(id >> 8), UInt8(id & 0xFF), UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        try send(Self.preface + Self.frame(.settings, payload))
    }

    /// Writes bytes; false when the server has closed the connection meanwhile.
    @discardableResult
    func send(_ bytes: [UInt8]) throws -> Bool {
        var offset = 0
        while offset < bytes.count {
            let r = try? bytes.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n)? = r else { return false }
            offset += n
        }
        return true
    }

    /// Sends one unary gRPC request on `stream` and reads until that stream ends.
    func call(_ path: String, _ request: [UInt8], stream: UInt32, extra: [(String, String)] = [],
              contentType: String = "application/grpc") throws -> Response? {
        let block = Self.headerBlock(Self.requestFields(path: path, contentType: contentType, extra: extra))
        try send(Self.frame(.headers, flags: 0x4, stream: stream, block) + Self.frame(.data, flags: 0x1, stream: stream, Self.message(request)))
        return readResponse(stream: stream)
    }

    // MARK: - Reading

    /// Reads frames until `done` says so (given every frame so far), the server closes, or `timeout` passes.
    func read(timeout: Duration = .seconds(5), until done: ([H2Frame]) -> Bool) -> [H2Frame] {
        var frames: [H2Frame] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline && !closed {
            while let frame = nextFrame() {
                frames.append(frame)
                if done(frames) { return frames }
            }
            let r = try? buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
            switch r {
            case .done(let n)?: inbound += buffer[0..<n]
            case .closed?, nil: closed = true
            default: continue
            }
        }
        while let frame = nextFrame() { frames.append(frame) }
        return frames
    }

    /// Reads until the server closes the connection (or `timeout`); the frames it sent meanwhile.
    func readUntilClosed(timeout: Duration = .seconds(5)) -> [H2Frame] {
        read(timeout: timeout) { _ in false }
    }

    func readResponse(stream: UInt32, timeout: Duration = .seconds(5)) -> Response? {
        let frames = read(timeout: timeout) { frames in frames.contains { $0.stream == stream && $0.endStream } }
        return response(stream: stream, in: frames)
    }

    /// The response of `stream` among `frames`, once it ended.
    func response(stream: UInt32, in frames: [H2Frame]) -> Response? {
        var blocks: [[String: String]] = []
        var data: [UInt8] = []
        var ended = false
        for frame in frames where frame.stream == stream {
            if frame.type == FrameType.headers.rawValue { blocks.append(decodeHeaders(frame.payload)) }
            if frame.type == FrameType.data.rawValue { data += frame.payload }
            if frame.endStream { ended = true }
        }
        guard ended, let first = blocks.first else { return nil }
        return Response(headers: first, data: data, trailers: blocks.count > 1 ? blocks.last : nil)
    }

    /// The GOAWAY's error code among `frames`, if one came.
    static func goAwayCode(_ frames: [H2Frame]) -> UInt32? {
        guard let frame = frames.first(where: { $0.type == FrameType.goAway.rawValue }), frame.payload.count >= 8 else { return nil }
        return frame.payload[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
    }

    private func nextFrame() -> H2Frame? {
        guard inbound.count >= 9 else { return nil }
        let length = Int(inbound[0]) << 16 | Int(inbound[1]) << 8 | Int(inbound[2])
        guard inbound.count >= 9 + length else { return nil }
        let stream = (UInt32(inbound[5]) << 24 | UInt32(inbound[6]) << 16 | UInt32(inbound[7]) << 8 | UInt32(inbound[8])) & 0x7FFF_FFFF
        let frame = H2Frame(type: inbound[3], flags: inbound[4], stream: stream, payload: Array(inbound[9..<9 + length]))
        inbound.removeFirst(9 + length)
        return frame
    }

    /// Decodes a header block (the server sends neither padding nor priority).
    private func decodeHeaders(_ block: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        block.withUnsafeBufferPointer { buffer in
            var input = buffer.baseAddress!
            var remaining = buffer.count
            while true {
                var nv = nghttp2_nv()
                var flags: Int32 = 0
                // Returns the bytes consumed, or a negative nghttp2_error for a malformed block.
                let n = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, input, remaining, 1)
                guard n >= 0 else { return }
                input += n
                remaining -= n
                if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
                    let name = String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self)
                    fields[name] = String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                }
                if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
                    nghttp2_hd_inflate_end_headers(inflater)
                    return
                }
                if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) == 0 && remaining == 0 { return }
            }
        }
        return fields
    }
}
