/// The protobuf wire types (the low 3 bits of a field's tag).
public enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    /// Proto2 groups: never produced by our code; skipped when met as an unknown field.
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// A field's tag: its number and how its value is encoded.
public struct ProtoTag: Sendable, Equatable {
    public var fieldNumber: Int
    public var wireType: WireType

    public init(fieldNumber: Int, wireType: WireType) {
        self.fieldNumber = fieldNumber
        self.wireType = wireType
    }
}

/// A message with the protobuf binary encoding (proto3 rules). Generated code conforms to it.
///
/// ```swift
/// let bytes = LoginRequest(email: "a@b.c", password: "pw").serializedBytes()
/// let back = try LoginRequest(serializedBytes: bytes)
/// ```
public protocol ProtoMessage: Sendable, Equatable {
    /// The message with every field at its proto3 default.
    init()
    /// Appends the fields that differ from their defaults, in field-number order.
    func encode(to writer: inout ProtoWriter)
    /// Reads fields until the reader's current end, merging them into `self`: singular fields
    /// take the last value, repeated fields append, message fields merge.
    mutating func decode(from reader: inout ProtoReader) throws
}

extension ProtoMessage {
    /// The message's protobuf encoding.
    public func serializedBytes() -> [UInt8] {
        var writer = ProtoWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// Decodes a message from its protobuf encoding; throws `ProtoDecodingError` on malformed input.
    public init(serializedBytes bytes: [UInt8]) throws {
        self.init()
        try merge(serializedBytes: bytes)
    }

    /// Decodes from raw memory (for example a frame payload inside a larger buffer).
    public init(serializedBytes buffer: UnsafeRawBufferPointer) throws {
        self.init()
        var reader = ProtoReader(buffer)
        try decode(from: &reader)
    }

    /// Merges the fields of an encoded message into this one (as protobuf's MergeFrom).
    public mutating func merge(serializedBytes bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw)
            try decode(from: &reader)
        }
    }
}

/// A proto3 enum: open, so values the schema does not name are kept (`unrecognized(n)`).
public protocol ProtoEnum: Sendable, Hashable {
    /// The enum's zero value.
    init()
    /// The case for a wire value; never fails (unknown values are kept).
    init(rawValue: Int32)
    /// The wire value.
    var rawValue: Int32 { get }
}

extension ProtoMessage {
    /// Decodes a request for a server method table: malformed bytes become INVALID_ARGUMENT.
    public init(decodingRequest bytes: [UInt8], for method: MethodDescriptor) throws {
        do {
            try self.init(serializedBytes: bytes)
        } catch {
            throw RPCError(.invalidArgument, "malformed \(Self.self) for \(method.fullName): \(error)", cause: error)
        }
    }

    /// Decodes a reply for a generated client: malformed bytes from the server become INTERNAL.
    public init(decodingReply bytes: [UInt8], for method: MethodDescriptor) throws {
        do {
            try self.init(serializedBytes: bytes)
        } catch {
            throw RPCError(.internalError, "malformed \(Self.self) in reply to \(method.fullName): \(error)", cause: error)
        }
    }
}

/// Keeps a message-typed field of a recursive message out of line (a struct cannot contain
/// itself). Generated code uses it only for fields on a reference cycle.
@propertyWrapper
public struct ProtoIndirect<Value: Sendable & Equatable>: Sendable, Equatable {
    private final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }
    private var box: Box

    public init(wrappedValue: Value) { box = Box(wrappedValue) }

    public var wrappedValue: Value {
        get { box.value }
        set { box = Box(newValue) }
    }

    public static func == (lhs: ProtoIndirect, rhs: ProtoIndirect) -> Bool {
        lhs.box === rhs.box || lhs.box.value == rhs.box.value
    }
}
