/// The scalar types of proto3.
public enum ScalarType: String, Sendable, CaseIterable {
    case double, float, int32, int64, uint32, uint64, sint32, sint64
    case fixed32, fixed64, sfixed32, sfixed64, bool, string, bytes

    /// Numeric types (and bool) are packed when repeated; string and bytes are not.
    public var isPackable: Bool { self != .string && self != .bytes }
}

/// A field's type: a scalar, or a message or enum named by its full name (`auth.v1.TokenReply`).
public enum FieldType: Sendable, Equatable {
    case scalar(ScalarType)
    case message(String)
    case enumeration(String)
    /// As written in the schema, before name resolution (never reaches an emitter).
    case unresolved(String)
}

/// One field of a message.
public struct Field: Sendable, Equatable {
    public var name: String
    public var number: Int
    public var type: FieldType
    public var isRepeated: Bool
    /// Whether a repeated numeric field is packed (proto3's default; `[packed = false]` turns it off).
    public var isPacked: Bool
    public var comments: [String]
    public var location: SourceLocation
    /// Where the field number was written.
    public var numberLocation: SourceLocation
    /// Where the type name was written (for "unknown type" errors).
    public var typeLocation: SourceLocation
    /// Where `[packed = true]` was written, if it was (checked once the type is known).
    public var packedOptionLocation: SourceLocation?
    /// The index of the `oneof` (in its message's `oneofs`) the field belongs to. Such a field has
    /// presence: it is a Swift optional, written when set even at its default.
    public var oneofIndex: Int? = nil
}

/// A `reserved` range (inclusive) of field or enum value numbers.
public struct ReservedRange: Sendable, Equatable {
    public var lower: Int
    public var upper: Int
    public var location: SourceLocation
}

/// A message, with its nested messages and enums.
public struct Message: Sendable, Equatable {
    public var name: String
    /// `package.Outer.Name`.
    public var fullName: String
    public var fields: [Field] = []
    public var messages: [Message] = []
    public var enums: [Enumeration] = []
    public var reservedRanges: [ReservedRange] = []
    public var reservedNames: [String] = []
    /// The names of the message's `oneof`s, in schema order (fields point in by index).
    public var oneofs: [String] = []
    /// The entry message protoc synthesizes for a `map<K, V>` field (`key = 1`, `value = 2`);
    /// the map field itself is a repeated field of this type, as on the wire.
    public var isMapEntry = false
    public var comments: [String]
    public var location: SourceLocation
}

/// One value of an enum.
public struct EnumValue: Sendable, Equatable {
    public var name: String
    public var number: Int
    public var comments: [String]
    public var location: SourceLocation
}

/// An enum (open, as in proto3: unknown values are kept).
public struct Enumeration: Sendable, Equatable {
    public var name: String
    public var fullName: String
    public var values: [EnumValue] = []
    public var reservedRanges: [ReservedRange] = []
    public var reservedNames: [String] = []
    public var comments: [String]
    public var location: SourceLocation
}

/// protobuf's `MethodOptions.IdempotencyLevel` (google/protobuf/descriptor.proto), set in the
/// schema with `option idempotency_level = NO_SIDE_EFFECTS;` inside an rpc's body.
public enum Idempotency: String, Sendable, CaseIterable {
    /// Not declared: the call may change state, so a client never repeats it once it may have
    /// reached a server.
    case unknown = "IDEMPOTENCY_UNKNOWN"
    /// Reads only: repeating it changes nothing.
    case noSideEffects = "NO_SIDE_EFFECTS"
    /// May change state, but a repeat leaves it as one call would.
    case idempotent = "IDEMPOTENT"
}

/// One rpc of a service.
public struct RPC: Sendable, Equatable {
    public var name: String
    /// Full names of the request and reply messages.
    public var input: String
    public var output: String
    /// `stream` before the request type.
    public var clientStreaming = false
    /// `stream` before the reply type.
    public var serverStreaming = false
    /// From `option idempotency_level`; `.unknown` when the schema says nothing.
    public var idempotency: Idempotency = .unknown
    public var comments: [String]
    public var location: SourceLocation
    public var inputLocation: SourceLocation
    public var outputLocation: SourceLocation
}

/// A service: a set of rpcs.
public struct Service: Sendable, Equatable {
    public var name: String
    public var fullName: String
    public var methods: [RPC] = []
    public var comments: [String]
    public var location: SourceLocation
}

/// A parsed and checked schema file: what the emitters work from.
public struct SchemaFile: Sendable, Equatable {
    /// The path as given to the compiler (relative, as it appears in generated headers).
    public var path: String
    /// The name imports and descriptors use: the path below the schema root (`grpc/health/v1/health.proto`).
    public var protoName: String
    public var package: String = ""
    /// The files named by `import`, as written, in order.
    public var imports: [String] = []
    /// The compiled files of `imports`, in the same order (each with its own dependencies).
    public var dependencies: [SchemaFile] = []
    /// The comment above `syntax`, the file's own documentation.
    public var comments: [String] = []
    public var messages: [Message] = []
    public var enums: [Enumeration] = []
    public var services: [Service] = []

    public init(path: String, protoName: String? = nil) {
        self.path = path
        self.protoName = protoName ?? path
    }

    /// This file's dependencies and theirs, each once, dependencies before dependents.
    public var transitiveDependencies: [SchemaFile] {
        var seen: Set<String> = [], out: [SchemaFile] = []
        func visit(_ file: SchemaFile) {
            for d in file.dependencies where seen.insert(d.protoName).inserted {
                visit(d)
                out.append(d)
            }
        }
        visit(self)
        return out
    }
}
