import RPCCore

/// The settings a side announces in its first frame (SETTINGS).
public struct ConnectionSettings: Sendable, Equatable {
    /// Largest frame payload this side accepts.
    public var maxFrameSize: UInt32
    /// Largest message this side accepts after decompression.
    public var maxDecompressedSize: UInt32
    /// Most calls this side lets the peer keep in flight (0: not announced).
    public var maxCallsInFlight: UInt32
    /// Compression algorithms this side can decompress (bit 0: zlib).
    public var compression: UInt32

    public static let zlib: UInt32 = 0x1

    public init(maxFrameSize: UInt32 = 4 << 20, maxDecompressedSize: UInt32 = 4 << 20,
                maxCallsInFlight: UInt32 = 0, compression: UInt32 = ConnectionSettings.zlib) {
        self.maxFrameSize = maxFrameSize
        self.maxDecompressedSize = maxDecompressedSize
        self.maxCallsInFlight = maxCallsInFlight
        self.compression = compression
    }

    enum ID: UInt16 {
        case maxFrameSize = 1, maxDecompressedSize = 2, maxCallsInFlight = 3, compression = 4
    }

    /// Payload: repeated (id: u16, value: u32), big-endian. Unknown ids are ignored.
    public func encode() -> [UInt8] {
        var w = ByteWriter()
        for (id, value) in [(ID.maxFrameSize, maxFrameSize), (.maxDecompressedSize, maxDecompressedSize),
                            (.maxCallsInFlight, maxCallsInFlight), (.compression, compression)] {
            w.u16(id.rawValue)
            w.u32(value)
        }
        return w.bytes
    }

    /// Reads a SETTINGS payload; absent ids keep the protocol's defaults.
    public static func decode(_ payload: [UInt8]) throws(ProtocolViolation) -> ConnectionSettings {
        guard payload.count % 6 == 0 else { throw ProtocolViolation(.internalError, "SETTINGS payload is not a multiple of 6 bytes") }
        var s = ConnectionSettings(compression: 0)
        var r = ByteReader(payload)
        while !r.isAtEnd {
            let id = try r.u16(), value = try r.u32()
            switch ID(rawValue: id) {
            case .maxFrameSize: s.maxFrameSize = value
            case .maxDecompressedSize: s.maxDecompressedSize = value
            case .maxCallsInFlight: s.maxCallsInFlight = value
            case .compression: s.compression = value
            case nil: continue
            }
        }
        return s
    }
}

/// The head of a CALL payload: method, timeout and metadata; the message follows it.
public struct CallHead: Sendable, Equatable {
    /// `"<package>.<Service>/<Method>"`.
    public var method: String
    /// Milliseconds the caller waits, counted from when the server reads the frame; 0: no deadline.
    public var timeoutMillis: UInt32
    public var metadata: Metadata

    public init(method: String, timeoutMillis: UInt32 = 0, metadata: Metadata = Metadata()) {
        self.method = method
        self.timeoutMillis = timeoutMillis
        self.metadata = metadata
    }

    /// Appends the head: u16 method length, method, u32 timeout ms, u16 entry count,
    /// then per entry u16 key length, key, u16 value length, value.
    public func encode(into w: inout ByteWriter) {
        w.string16(method)
        w.u32(timeoutMillis)
        w.u16(UInt16(metadata.count))
        for entry in metadata {
            w.string16(entry.key)
            w.string16(entry.value)
        }
    }

    /// Reads the head of a CALL payload; returns it and the offset where the message starts.
    public static func decode(_ payload: [UInt8]) throws(ProtocolViolation) -> (CallHead, messageOffset: Int) {
        let result = payload.withUnsafeBytes { raw in
            Result { () throws(ProtocolViolation) -> (CallHead, messageOffset: Int) in
                let view = try CallHeadView.parse(raw)
                return (view.head(in: raw), view.messageOffset)
            }
        }
        return try result.get()
    }
}

/// The head of a REPLY payload: status and message; on OK the reply message follows it.
public struct ReplyHead: Sendable, Equatable {
    public var status: StatusCode
    public var message: String

    public init(status: StatusCode, message: String = "") {
        self.status = status
        self.message = message
    }

    /// Appends u8 status, u16 message length, message (UTF-8, cut to the protocol's bound).
    public func encode(into w: inout ByteWriter) {
        w.u8(status.rawValue)
        w.string16(Self.bounded(message))
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolViolation) -> (ReplyHead, messageOffset: Int) {
        var r = ByteReader(payload)
        let raw = try r.u8()
        let message = try r.string16(max: 65535, what: "status message")
        return (ReplyHead(status: StatusCode(rawValue: raw) ?? .unknown, message: message), r.offset)
    }

    static func bounded(_ message: String) -> String {
        guard message.utf8.count > WireProtocol.maxStatusMessageLength else { return message }
        return String(decoding: message.utf8.prefix(WireProtocol.maxStatusMessageLength), as: UTF8.self)
    }
}

/// A GOAWAY payload: the highest call id the sender will still answer, and why.
public struct GoAway: Sendable, Equatable {
    public var lastCallID: UInt32
    public var status: StatusCode
    public var message: String

    public init(lastCallID: UInt32, status: StatusCode = .unavailable, message: String = "server shutting down") {
        self.lastCallID = lastCallID
        self.status = status
        self.message = message
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.u32(lastCallID)
        w.u8(status.rawValue)
        w.string16(ReplyHead.bounded(message))
        return w.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolViolation) -> GoAway {
        var r = ByteReader(payload)
        let last = try r.u32()
        let raw = try r.u8()
        let message = try r.string16(max: 65535, what: "GOAWAY message")
        return GoAway(lastCallID: last, status: StatusCode(rawValue: raw) ?? .unknown, message: message)
    }
}

/// An ERROR payload: u8 status, u16 message length, message. The sender closes after it.
public struct ErrorPayload: Sendable, Equatable {
    public var status: StatusCode
    public var message: String

    public init(status: StatusCode, message: String) {
        self.status = status
        self.message = message
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        ReplyHead(status: status, message: message).encode(into: &w)
        return w.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolViolation) -> ErrorPayload {
        let (head, _) = try ReplyHead.decode(payload)
        return ErrorPayload(status: head.status, message: head.message)
    }
}

/// Appends big-endian integers and length-prefixed strings.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    public mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(v >> 24)); bytes.append(UInt8((v >> 16) & 0xFF))
        bytes.append(UInt8((v >> 8) & 0xFF)); bytes.append(UInt8(v & 0xFF))
    }
    /// u16 length then the UTF-8 bytes (cut at 65535 bytes).
    public mutating func string16(_ s: String) {
        let utf8 = s.utf8
        let n = min(utf8.count, 65535)
        u16(UInt16(n))
        bytes.append(contentsOf: utf8.prefix(n))
    }
}

/// Reads big-endian integers and length-prefixed strings, throwing on truncation.
public struct ByteReader {
    let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var isAtEnd: Bool { offset >= bytes.count }

    mutating func need(_ n: Int) throws(ProtocolViolation) {
        guard bytes.count - offset >= n else { throw ProtocolViolation(.internalError, "payload truncated") }
    }
    public mutating func u8() throws(ProtocolViolation) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }
    public mutating func u16() throws(ProtocolViolation) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }
    public mutating func u32() throws(ProtocolViolation) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
    public mutating func string16(max: Int, what: String) throws(ProtocolViolation) -> String {
        let n = Int(try u16())
        guard n <= max else { throw ProtocolViolation(.internalError, "\(what) longer than \(max) bytes") }
        try need(n)
        defer { offset += n }
        guard let s = String(validating: bytes[offset..<offset + n], as: UTF8.self) else {
            throw ProtocolViolation(.internalError, "\(what) is not UTF-8")
        }
        return s
    }
}
