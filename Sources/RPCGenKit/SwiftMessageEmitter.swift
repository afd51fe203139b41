/// Writes Swift structs (protobuf encode/decode) and enums for a schema's messages and enums.
struct SwiftMessageEmitter {
    let index: TypeIndex

    /// A message; a top-level one (`topLevel`) is named with the index's package prefix, if any.
    func emit(_ m: Message, topLevel: Bool = false, into w: inout CodeWriter) {
        let doc = m.isMapEntry ? ["An entry of the map field this message is named after (`key`, `value`)."] : ["The `\(m.name)` message."]
        w.comments(m.comments.isEmpty ? doc : m.comments)
        let typeName = topLevel ? index.topLevelName(m.name) : Naming.swiftIdentifier(m.name)
        w.block("public struct \(typeName): ProtoMessage {") { w in
            for f in m.fields {
                w.comments(f.comments)
                let wrapper = isIndirect(f, in: m) ? "@ProtoIndirect " : ""
                w.line("\(wrapper)public var \(name(f)): \(type(f)) = \(defaultValue(f))")
            }
            for e in m.enums {
                w.line()
                emit(e, into: &w)
            }
            for nested in m.messages {
                w.line()
                emit(nested, into: &w)
            }
            if !(m.fields.isEmpty && m.enums.isEmpty && m.messages.isEmpty) { w.line() }
            w.line("/// Every field at its default.")
            w.line("public init() {}")
            if !m.fields.isEmpty {
                w.line()
                w.line("/// The given fields set, the others at their defaults.")
                let params = m.fields.map { "\(name($0)): \(type($0)) = \(defaultValue($0))" }
                let body: (inout CodeWriter) -> Void = { w in
                    for f in m.fields { w.line("self.\(name(f)) = \(name(f))") }
                }
                if params.joined(separator: ", ").count <= 90 {
                    w.block("public init(\(params.joined(separator: ", "))) {", body)
                } else {
                    w.line("public init(")
                    w.indent { w in
                        for (i, p) in params.enumerated() { w.line(p + (i < params.count - 1 ? "," : "")) }
                    }
                    w.block(") {", body)
                }
            }
            w.line()
            emitEncode(m, into: &w)
            w.line()
            emitDecode(m, into: &w)
        }
    }

    private func emitEncode(_ m: Message, into w: inout CodeWriter) {
        guard !m.fields.isEmpty else {
            w.line("public func encode(to writer: inout ProtoWriter) {}")
            return
        }
        w.block("public func encode(to writer: inout ProtoWriter) {") { w in
            for f in m.fields.sorted(by: { $0.number < $1.number }) {
                if f.oneofIndex != nil, let write = presentWrite(f) {
                    w.line("if let v = \(access(f)) { \(write) }")
                    continue
                }
                let kind = f.isRepeated ? "Repeated" + suffix(f) : suffix(f)
                let packed = f.isRepeated && isPackable(f) && !f.isPacked ? ", packed: false" : ""
                w.line("writer.write\(kind)(\(access(f)), field: \(f.number)\(packed))")
            }
        }
    }

    private func emitDecode(_ m: Message, into w: inout CodeWriter) {
        w.block("public mutating func decode(from reader: inout ProtoReader) throws {") { w in
            w.block("while let tag = try reader.nextTag() {") { w in
                guard !m.fields.isEmpty else {
                    w.line("try reader.skipField(tag)")
                    return
                }
                w.line("switch tag.fieldNumber {")
                for f in m.fields.sorted(by: { $0.number < $1.number }) {
                    let n = access(f)
                    // Setting a member of a oneof clears the others (protobuf: the last one wins).
                    let others = m.fields.filter { $0.oneofIndex != nil && $0.oneofIndex == f.oneofIndex && $0.number != f.number }
                    let clear = others.map { "\(access($0)) = nil; " }.joined()
                    if f.oneofIndex != nil, case .message = f.type {
                        w.line("case \(f.number): \(clear)try reader.readMessage(tag, into: &\(n))")
                    } else if f.oneofIndex != nil {
                        w.line("case \(f.number): \(clear)\(n) = try reader.read\(suffix(f))(tag)")
                    } else if f.isRepeated {
                        w.line("case \(f.number): try reader.readRepeated\(suffix(f))(tag, into: &\(n))")
                    } else if case .message = f.type {
                        w.line("case \(f.number): try reader.readMessage(tag, into: &\(n))")
                    } else {
                        w.line("case \(f.number): \(n) = try reader.read\(suffix(f))(tag)")
                    }
                }
                w.line("default: try reader.skipField(tag)")
                w.line("}")
            }
        }
    }

    func emit(_ e: Enumeration, topLevel: Bool = false, into w: inout CodeWriter) {
        let cases = Naming.enumCaseNames(e).map(Naming.swiftIdentifier)
        w.comments(e.comments.isEmpty ? ["The `\(e.name)` enum."] : e.comments)
        let typeName = topLevel ? index.topLevelName(e.name) : Naming.swiftIdentifier(e.name)
        w.block("public enum \(typeName): ProtoEnum {") { w in
            for (v, c) in zip(e.values, cases) {
                w.comments(v.comments)
                w.line("case \(c)  // \(v.name) = \(v.number)")
            }
            w.line("/// A value this version of the schema does not name, kept as it came.")
            w.line("case unrecognized(Int32)")
            w.line()
            w.line("public init() { self = .\(cases[0]) }")
            w.line()
            w.block("public init(rawValue: Int32) {") { w in
                w.line("switch rawValue {")
                for (v, c) in zip(e.values, cases) { w.line("case \(v.number): self = .\(c)") }
                w.line("default: self = .unrecognized(rawValue)")
                w.line("}")
            }
            w.line()
            w.block("public var rawValue: Int32 {") { w in
                w.line("switch self {")
                for (v, c) in zip(e.values, cases) { w.line("case .\(c): \(v.number)") }
                w.line("case .unrecognized(let value): value")
                w.line("}")
            }
        }
    }

    // MARK: Field details

    func name(_ f: Field) -> String { Naming.swiftIdentifier(Naming.lowerCamel(f.name)) }

    /// The field as encode/decode refer to it: through `self` when a local of theirs has its name.
    private func access(_ f: Field) -> String {
        let n = name(f)
        return ["tag", "reader", "writer"].contains(n) ? "self.\(n)" : n
    }

    private func isIndirect(_ f: Field, in m: Message) -> Bool {
        guard !f.isRepeated, case .message(let target) = f.type else { return false }
        return index.isOnCycle(owner: m.fullName, target: target)
    }

    private func isPackable(_ f: Field) -> Bool {
        switch f.type {
        case .scalar(let s): s.isPackable
        case .enumeration: true
        default: false
        }
    }

    private func elementType(_ f: Field) -> String {
        switch f.type {
        case .scalar(let s):
            switch s {
            case .double: "Double"
            case .float: "Float"
            case .int32, .sint32, .sfixed32: "Int32"
            case .int64, .sint64, .sfixed64: "Int64"
            case .uint32, .fixed32: "UInt32"
            case .uint64, .fixed64: "UInt64"
            case .bool: "Bool"
            case .string: "String"
            case .bytes: "[UInt8]"
            }
        case .message(let n), .enumeration(let n), .unresolved(let n): index.swiftPath(n)
        }
    }

    func type(_ f: Field) -> String {
        if f.isRepeated { return "[\(elementType(f))]" }
        if case .message = f.type { return elementType(f) + "?" }
        if f.oneofIndex != nil { return elementType(f) + "?" }
        return elementType(f)
    }

    private func defaultValue(_ f: Field) -> String {
        if f.isRepeated { return "[]" }
        if f.oneofIndex != nil { return "nil" }
        switch f.type {
        case .scalar(let s):
            switch s {
            case .bool: return "false"
            case .string: return "\"\""
            case .bytes: return "[]"
            default: return "0"
            }
        case .message: return "nil"
        case .enumeration(let n):
            guard let e = index.enumeration(n) else { return ".init()" }
            return "." + Naming.swiftIdentifier(Naming.enumCaseNames(e)[0])
        case .unresolved: return ".init()"
        }
    }

    /// For a set oneof member `v` that is not a message: the statements writing it even at its
    /// default (`ProtoWriter.write…` skips defaults). Nil for messages (`writeMessage` writes any set one).
    private func presentWrite(_ f: Field) -> String? {
        let n = f.number
        func varint(_ value: String) -> String { "writer.appendTag(\(n), .varint); writer.appendVarint(\(value))" }
        switch f.type {
        case .scalar(let s):
            switch s {
            case .string:
                return "writer.appendTag(\(n), .lengthDelimited); writer.appendVarint(UInt64(v.utf8.count)); writer.appendRaw(v.utf8)"
            case .bytes:
                return "writer.appendTag(\(n), .lengthDelimited); writer.appendVarint(UInt64(v.count)); writer.appendRaw(v)"
            case .bool: return varint("v ? 1 : 0")
            case .int32: return varint("UInt64(bitPattern: Int64(v))")
            case .int64: return varint("UInt64(bitPattern: v)")
            case .uint32, .uint64: return varint("UInt64(v)")
            case .sint32: return varint("UInt64(UInt32(bitPattern: (v &<< 1) ^ (v >> 31)))")
            case .sint64: return varint("UInt64(bitPattern: (v &<< 1) ^ (v >> 63))")
            case .fixed32: return "writer.appendTag(\(n), .fixed32); writer.appendFixed32(v)"
            case .sfixed32: return "writer.appendTag(\(n), .fixed32); writer.appendFixed32(UInt32(bitPattern: v))"
            case .float: return "writer.appendTag(\(n), .fixed32); writer.appendFixed32(v.bitPattern)"
            case .fixed64: return "writer.appendTag(\(n), .fixed64); writer.appendFixed64(v)"
            case .sfixed64: return "writer.appendTag(\(n), .fixed64); writer.appendFixed64(UInt64(bitPattern: v))"
            case .double: return "writer.appendTag(\(n), .fixed64); writer.appendFixed64(v.bitPattern)"
            }
        case .enumeration: return varint("UInt64(bitPattern: Int64(v.rawValue))")
        case .message, .unresolved: return nil
        }
    }

    /// The `ProtoWriter.write…` / `ProtoReader.read…` suffix of a field's type.
    private func suffix(_ f: Field) -> String {
        switch f.type {
        case .scalar(let s):
            switch s {
            case .double: "Double"
            case .float: "Float"
            case .int32: "Int32"
            case .int64: "Int64"
            case .uint32: "UInt32"
            case .uint64: "UInt64"
            case .sint32: "SInt32"
            case .sint64: "SInt64"
            case .fixed32: "Fixed32"
            case .fixed64: "Fixed64"
            case .sfixed32: "SFixed32"
            case .sfixed64: "SFixed64"
            case .bool: "Bool"
            case .string: "String"
            case .bytes: "Bytes"
            }
        case .enumeration: "Enum"
        case .message, .unresolved: "Message"
        }
    }
}
