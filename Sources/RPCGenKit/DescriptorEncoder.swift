/// The protobuf encoding of a schema file as `google.protobuf.FileDescriptorProto`
/// (google/protobuf/descriptor.proto), what gRPC server reflection hands out and what
/// `protoc --descriptor_set_out` writes, field for field, for what the schema says.
///
/// Left out, as protoc's output has them: source code info (protoc too, unless asked), file,
/// message, field and enum options (rpcgen reads them and drops them; a map entry's
/// `map_entry = true` and an rpc's `idempotency_level` are kept, as they change meaning).
public enum DescriptorEncoder {
    /// The serialized `FileDescriptorProto`.
    public static func fileDescriptorProto(_ schema: SchemaFile) -> [UInt8] {
        var w = DescriptorWriter()
        w.string(1, schema.protoName)
        if !schema.package.isEmpty { w.string(2, schema.package) }
        for d in schema.imports { w.string(3, d) }
        for m in schema.messages { w.message(4) { message(m, &$0) } }
        for e in schema.enums { w.message(5) { enumeration(e, &$0) } }
        for s in schema.services { w.message(6) { service(s, &$0) } }
        w.string(12, "proto3")
        return w.bytes
    }

    /// The fully qualified names a reflection client may ask for with `file_containing_symbol`:
    /// services, their methods (`pkg.Service.Method`), messages and enums (nested ones too).
    public static func symbols(_ schema: SchemaFile) -> [String] {
        var out: [String] = []
        for s in schema.services {
            out.append(s.fullName)
            out += s.methods.map { "\(s.fullName).\($0.name)" }
        }
        func add(_ m: Message) {
            out.append(m.fullName)
            m.messages.forEach(add)
            out += m.enums.map(\.fullName)
        }
        schema.messages.forEach(add)
        out += schema.enums.map(\.fullName)
        return out
    }

    // DescriptorProto
    private static func message(_ m: Message, _ w: inout DescriptorWriter) {
        w.string(1, m.name)
        for f in m.fields { w.message(2) { field(f, &$0) } }
        for n in m.messages { w.message(3) { message(n, &$0) } }
        for e in m.enums { w.message(4) { enumeration(e, &$0) } }
        if m.isMapEntry { w.message(7) { $0.varint(7, 1) } }  // MessageOptions.map_entry
        for o in m.oneofs { w.message(8) { $0.string(1, o) } }
        for r in m.reservedRanges {  // DescriptorProto.ReservedRange: end exclusive
            w.message(9) { $0.varint(1, UInt64(r.lower)); $0.varint(2, UInt64(r.upper + 1)) }
        }
        for n in m.reservedNames { w.string(10, n) }
    }

    // FieldDescriptorProto
    private static func field(_ f: Field, _ w: inout DescriptorWriter) {
        w.string(1, f.name)
        w.varint(3, UInt64(f.number))
        w.varint(4, f.isRepeated ? 3 : 1)  // LABEL_REPEATED, LABEL_OPTIONAL
        switch f.type {
        case .scalar(let s): w.varint(5, scalarType(s))
        case .message(let n), .unresolved(let n): w.varint(5, 11); w.string(6, "." + n)
        case .enumeration(let n): w.varint(5, 14); w.string(6, "." + n)
        }
        if let i = f.oneofIndex { w.varint(9, UInt64(i)) }
        w.string(10, Naming.jsonName(f.name))
    }

    /// FieldDescriptorProto.Type numbers.
    private static func scalarType(_ s: ScalarType) -> UInt64 {
        switch s {
        case .double: 1
        case .float: 2
        case .int64: 3
        case .uint64: 4
        case .int32: 5
        case .fixed64: 6
        case .fixed32: 7
        case .bool: 8
        case .string: 9
        case .bytes: 12
        case .uint32: 13
        case .sfixed32: 15
        case .sfixed64: 16
        case .sint32: 17
        case .sint64: 18
        }
    }

    // EnumDescriptorProto
    private static func enumeration(_ e: Enumeration, _ w: inout DescriptorWriter) {
        w.string(1, e.name)
        for v in e.values {
            w.message(2) { $0.string(1, v.name); $0.varint(2, UInt64(bitPattern: Int64(v.number))) }
        }
        for r in e.reservedRanges {  // EnumReservedRange: end inclusive
            w.message(4) { $0.varint(1, UInt64(bitPattern: Int64(r.lower))); $0.varint(2, UInt64(bitPattern: Int64(r.upper))) }
        }
        for n in e.reservedNames { w.string(5, n) }
    }

    // ServiceDescriptorProto
    private static func service(_ s: Service, _ w: inout DescriptorWriter) {
        w.string(1, s.name)
        for r in s.methods {
            w.message(2) { w in
                w.string(1, r.name)
                w.string(2, "." + r.input)
                w.string(3, "." + r.output)
                if r.idempotency != .unknown {
                    let level: UInt64 = r.idempotency == .noSideEffects ? 1 : 2
                    w.message(4) { $0.varint(34, level) }  // MethodOptions.idempotency_level
                }
                if r.clientStreaming { w.varint(5, 1) }
                if r.serverStreaming { w.varint(6, 1) }
            }
        }
    }
}

/// The few protobuf encoding primitives a descriptor needs (RPCGenKit depends on nothing).
struct DescriptorWriter {
    private(set) var bytes: [UInt8] = []

    mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        rawVarint(UInt64(field << 3))
        rawVarint(value)
    }

    mutating func string(_ field: Int, _ value: String) {
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(value.utf8.count))
        bytes += value.utf8
    }

    mutating func message(_ field: Int, _ body: (inout DescriptorWriter) -> Void) {
        var inner = DescriptorWriter()
        body(&inner)
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(inner.bytes.count))
        bytes += inner.bytes
    }
}
