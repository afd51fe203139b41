import RPCCore

/// The protocol's constants: the preface, the frame header and the frame types (schema/PROTOCOL.md).
public enum WireProtocol {
    /// The 8 bytes a client sends first on a new connection: ASCII `ARPC`, 0x0D 0x0A, major 0x01, minor 0x00.
    public static let preface: [UInt8] = [0x41, 0x52, 0x50, 0x43, 0x0D, 0x0A, 0x01, 0x00]
    /// The ALPN protocol id negotiated in the TLS handshake.
    public static let alpn = "authrpc/1"
    /// Bytes before a frame's payload: length (4), type (1), flags (1), call id (4).
    public static let headerSize = 10
    /// Longest method name accepted in a CALL.
    public static let maxMethodNameLength = 512
    /// Most metadata entries in one CALL.
    public static let maxMetadataEntries = 64
    /// Longest metadata key and value.
    public static let maxMetadataKeyLength = 256
    public static let maxMetadataValueLength = 8192
    /// Longest status message in a REPLY, GOAWAY or ERROR (longer ones are cut by the sender).
    public static let maxStatusMessageLength = 4096
}

/// A frame's type byte.
public enum FrameType: UInt8, Sendable, CaseIterable {
    case settings = 0x00
    case call = 0x01
    case reply = 0x02
    case cancel = 0x03
    case ping = 0x04
    case pong = 0x05
    case goAway = 0x06
    case error = 0x07
}

/// A frame's flags byte.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The message part of a CALL or REPLY is zlib-compressed.
    public static let compressed = FrameFlags(rawValue: 0x01)
}

/// One frame as read from or written to the wire.
public struct Frame: Sendable, Equatable {
    public var type: FrameType
    public var flags: FrameFlags
    public var callID: UInt32
    public var payload: [UInt8]

    public init(type: FrameType, flags: FrameFlags = [], callID: UInt32 = 0, payload: [UInt8] = []) {
        self.type = type
        self.flags = flags
        self.callID = callID
        self.payload = payload
    }
}

/// A violation of the protocol by the peer: answered with an ERROR frame and a close.
public struct ProtocolViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// The status the ERROR frame carries (INTERNAL for malformed input, RESOURCE_EXHAUSTED for limits).
    public var code: StatusCode
    public var message: String
    public init(_ code: StatusCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "protocol violation (\(code)): \(message)" }
}
