/// Writes Swift structs (protobuf encode/decode) and enums for a schema's messages and enums.
struct SwiftMessageEmitter {
    let index: TypeIndex

    func emit(_ m: Message, into w: inout CodeWriter) {
        w.comments(m.comments.isEmpty ? ["The `\(m.name)` message."] : m.comments)
        w.block("public struct \(Naming.swiftIdentifier(m.name)): ProtoMessage {") { w in
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
                    if f.isRepeated {
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

    func emit(_ e: Enumeration, into w: inout CodeWriter) {
        let cases = Naming.enumCaseNames(e).map(Naming.swiftIdentifier)
        w.comments(e.comments.isEmpty ? ["The `\(e.name)` enum."] : e.comments)
        w.block("public enum \(Naming.swiftIdentifier(e.name)): ProtoEnum {") { w in
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
        return elementType(f)
    }

    private func defaultValue(_ f: Field) -> String {
        if f.isRepeated { return "[]" }
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
