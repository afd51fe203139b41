import RPCCore

/// gRPC's wire details over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md) that need no session: the
/// `grpc-timeout` header, the percent-encoded `grpc-message`, the ALPN id. No I/O.
enum GRPCWire {
    /// The ALPN protocol id that selects gRPC over HTTP/2 on the shared TLS port.
    static let alpn = "h2"
    /// Bytes before each message: a compressed flag (1) and a big-endian length (4).
    static let prefixSize = 5

    /// The duration of a `grpc-timeout` value: 1 to 8 ASCII digits and a unit (`H`, `M`, `S`,
    /// `m`, `u`, `n`); nil when malformed.
    static func parseTimeout(_ value: UnsafeRawBufferPointer) -> Duration? {
        guard value.count >= 2, value.count <= 9 else { return nil }
        var amount: Int64 = 0
        for b in value.dropLast() {
            guard b >= 0x30, b <= 0x39 else { return nil }
            amount = amount * 10 + Int64(b - 0x30)
        }
        switch value[value.count - 1] {
        case UInt8(ascii: "H"): return .seconds(amount * 3600)
        case UInt8(ascii: "M"): return .seconds(amount * 60)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }

    static func parseTimeout(_ value: String) -> Duration? {
        var bytes = Array(value.utf8)
        return bytes.withUnsafeMutableBytes { parseTimeout(UnsafeRawBufferPointer($0)) }
    }

    /// `grpc-message` as the spec writes it: UTF-8, with every byte outside printable ASCII
    /// (0x20–0x7E) and `%` itself written as `%XX`.
    static func percentEncode(_ message: String) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count)
        for b in message.utf8 {
            if b >= 0x20 && b <= 0x7E && b != UInt8(ascii: "%") {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return out
    }

    /// A message with its 5-byte prefix (uncompressed).
    static func framed(_ message: [UInt8], into out: inout [UInt8]) {
        let n = UInt32(message.count)
        out.append(0)
        out.append(UInt8(truncatingIfNeeded: n >> 24))
        out.append(UInt8(truncatingIfNeeded: n >> 16))
        out.append(UInt8(truncatingIfNeeded: n >> 8))
        out.append(UInt8(truncatingIfNeeded: n))
        out.append(contentsOf: message)
    }
}

/// Cuts a stream's DATA bytes into gRPC messages (5-byte prefix, then the message), holding at
/// most one partial message, itself capped at `maxMessageSize`.
struct GRPCMessageAssembler {
    let maxMessageSize: Int
    private var buffer: [UInt8] = []

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Whether part of a message is held (an END_STREAM now cuts it short).
    var hasPartialMessage: Bool { !buffer.isEmpty }

    /// Adds `chunk` and calls `each` with every message it completes, in order; the bytes are
    /// valid only during the call. A chunk that starts on a message boundary (the usual case: one
    /// DATA frame, one message) is cut in place, with nothing copied or allocated here. Throws
    /// RESOURCE_EXHAUSTED for a message over the limit (known from its prefix, before its bytes
    /// come) and INTERNAL for a compressed one (this server takes only `grpc-encoding: identity`).
    mutating func append(_ chunk: UnsafeRawBufferPointer, each: (UnsafeRawBufferPointer) -> Void) throws(RPCError) {
        if buffer.isEmpty {
            let used = try Self.cut(chunk, maxMessageSize: maxMessageSize, each: each)
            if used < chunk.count { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[used...])) }
            return
        }
        buffer.append(contentsOf: chunk)
        let cut: Result<Int, RPCError> = buffer.withUnsafeBytes { bytes in
            do throws(RPCError) { return .success(try Self.cut(bytes, maxMessageSize: maxMessageSize, each: each)) } catch { return .failure(error) }
        }
        let used = try cut.get()
        if used == buffer.count {
            buffer.removeAll(keepingCapacity: false)
        } else if used > 0 {
            buffer.removeFirst(used)
        }
    }

    /// Hands `each` the whole messages at the start of `bytes`; returns how many bytes they took.
    private static func cut(_ bytes: UnsafeRawBufferPointer, maxMessageSize: Int,
                            each: (UnsafeRawBufferPointer) -> Void) throws(RPCError) -> Int {
        var offset = 0
        while bytes.count - offset >= GRPCWire.prefixSize {
            let flag = bytes[offset]
            let length = Int(bytes[offset + 1]) << 24 | Int(bytes[offset + 2]) << 16
                | Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            if flag != 0 {
                throw RPCError(.internalError, "compressed message without a grpc-encoding")
            }
            if length > maxMessageSize {
                throw RPCError(.resourceExhausted, "message larger than the server's limit (\(maxMessageSize) bytes)")
            }
            guard bytes.count - offset - GRPCWire.prefixSize >= length else { break }
            let start = offset + GRPCWire.prefixSize
            each(UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]))
            offset = start + length
        }
        return offset
    }
}

/// Caps how many control frames of one kind (PING, SETTINGS) a connection may send per second:
/// a token bucket holding `burst` tokens, refilled at `perSecond`. Each frame takes one; none
/// left means a flood, answered with GOAWAY ENHANCE_YOUR_CALM. Time is given, never read.
struct FrameRateLimit {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    init(burst: Int, perSecond: Int) {
        self.burst = Double(burst)
        self.perSecond = Double(perSecond)
        tokens = Double(burst)
    }

    /// Takes a token for a frame received at `now`; false when none is left.
    mutating func admit(now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = now - last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            tokens = min(burst, tokens + seconds * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
