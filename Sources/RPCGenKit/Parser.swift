/// Parses the proto3 subset into a `SchemaFile` (names not yet resolved; see `Resolver`).
///
/// Accepted: `syntax = "proto3";`, `package`, `import "path";`, `option` (ignored, except a
/// field's `packed` and an rpc's `idempotency_level`; an rpc takes only that and `deprecated`),
/// messages with scalar, message- and enum-typed fields, `repeated`, `map<K, V>` (as protoc: a
/// repeated field of a synthesized `<Name>Entry` message), `oneof`, nested messages and enums,
/// `reserved`, enums, services with unary and streaming rpcs. Everything else protoc knows
/// (`import public`/`weak`, `optional`, extensions, proto2) is refused with an error at its position.
struct Parser {
    private let file: String
    private var tokens: [Token]
    private var index = 0
    private var schema: SchemaFile

    init(file: String, protoName: String? = nil, source: String) throws {
        self.file = file
        tokens = try Lexer.tokenize(file: file, source: source)
        schema = SchemaFile(path: file, protoName: protoName)
    }

    static func parse(file: String, protoName: String? = nil, source: String) throws -> SchemaFile {
        var parser = try Parser(file: file, protoName: protoName, source: source)
        return try parser.parseFile()
    }

    // MARK: Token helpers

    private var token: Token { tokens[index] }
    private func peek(_ n: Int = 1) -> Token { tokens[min(index + n, tokens.count - 1)] }

    private mutating func next() -> Token {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    private func error(_ at: SourceLocation, _ message: String) -> SchemaError {
        SchemaError(file: file, at, message)
    }

    private func isSymbol(_ c: Character) -> Bool { token.kind == .symbol(c) }
    private func isKeyword(_ word: String) -> Bool { token.kind == .identifier(word) }

    /// Consumes `c` or fails with "expected 'c' <context>".
    @discardableResult
    private mutating func expect(_ c: Character, _ context: String) throws -> Token {
        guard isSymbol(c) else { throw error(token.location, "expected '\(c)' \(context), found \(token.display)") }
        return next()
    }

    private mutating func identifier(_ what: String) throws -> (String, SourceLocation) {
        guard case .identifier(let name) = token.kind else {
            throw error(token.location, "expected \(what), found \(token.display)")
        }
        let location = next().location
        return (name, location)
    }

    /// `a.b.c`, or with a leading dot for a fully qualified type name.
    private mutating func dottedName(_ what: String, allowLeadingDot: Bool = false) throws -> (String, SourceLocation) {
        let start = token.location
        var name = ""
        if allowLeadingDot, isSymbol(".") { _ = next(); name = "." }
        name += try identifier(what).0
        while isSymbol(".") {
            _ = next()
            name += "." + (try identifier(what).0)
        }
        return (name, start)
    }

    private mutating func integer(_ what: String) throws -> (Int, SourceLocation) {
        let location = token.location
        var negative = false
        if isSymbol("-") { _ = next(); negative = true }
        guard case .integer(let text) = token.kind else {
            throw error(token.location, "expected \(what), found \(token.display)")
        }
        _ = next()
        let value: Int?
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            value = Int(text.dropFirst(2), radix: 16)
        } else if text.count > 1, text.hasPrefix("0") {
            value = Int(text.dropFirst(), radix: 8)
        } else {
            value = Int(text)
        }
        guard let value, value <= Int(UInt32.max) else { throw error(location, "\(what) \(text) is out of range") }
        return (negative ? -value : value, location)
    }

    // MARK: File

    private mutating func parseFile() throws -> SchemaFile {
        guard isKeyword("syntax") else {
            throw error(token.location, "expected 'syntax = \"proto3\";' first (proto2 and editions are not supported)")
        }
        schema.comments = token.leadingComments
        _ = next()
        try expect("=", "after 'syntax'")
        guard case .string(let syntax) = token.kind else { throw error(token.location, "expected \"proto3\", found \(token.display)") }
        guard syntax == "proto3" else { throw error(token.location, "only syntax \"proto3\" is supported, not \"\(syntax)\"") }
        _ = next()
        try expect(";", "after the syntax statement")

        var sawPackage = false
        while token.kind != .end {
            let t = token
            switch t.kind {
            case .symbol(";"):
                _ = next()
            case .identifier("import"):
                _ = next()
                if isKeyword("public") || isKeyword("weak") {
                    throw error(token.location, "'import \(token.display)' is not supported: use a plain import")
                }
                guard case .string(let path) = token.kind else {
                    throw error(token.location, "expected the imported file's name as a string, found \(token.display)")
                }
                guard !schema.imports.contains(path) else { throw error(token.location, "\"\(path)\" is imported twice") }
                _ = next()
                schema.imports.append(path)
                try expect(";", "after the import")
            case .identifier("package"):
                guard !sawPackage else { throw error(t.location, "a file has at most one 'package'") }
                sawPackage = true
                _ = next()
                schema.package = try dottedName("a package name").0
                try expect(";", "after the package name")
            case .identifier("option"):
                try option()
            case .identifier("message"):
                schema.messages.append(try message(scope: schema.package))
            case .identifier("enum"):
                schema.enums.append(try enumeration(scope: schema.package))
            case .identifier("service"):
                schema.services.append(try service())
            case .identifier("extend"):
                throw error(t.location, "extensions are not supported")
            default:
                throw error(t.location, "expected 'message', 'enum', 'service', 'package' or 'option', found \(t.display)")
            }
        }
        return schema
    }

    private func qualified(_ scope: String, _ name: String) -> String { scope.isEmpty ? name : "\(scope).\(name)" }

    // MARK: Options

    /// `option name = value;` — read and ignored.
    private mutating func option() throws {
        _ = next()
        _ = try optionAssignment()
        try expect(";", "after the option")
    }

    /// `name = constant` or `(custom).name = constant`; returns the name, the value's text, and
    /// whether the value was a bare identifier (an enum constant or `true`/`false`).
    private mutating func optionAssignment() throws
        -> (name: String, value: String, isIdentifier: Bool, location: SourceLocation, valueLocation: SourceLocation) {
        let location = token.location
        var name = ""
        if isSymbol("(") {
            _ = next()
            name = "(" + (try dottedName("an option name", allowLeadingDot: true).0) + ")"
            try expect(")", "after the custom option name")
        } else {
            name = try identifier("an option name").0
        }
        while isSymbol(".") {
            _ = next()
            name += "." + (try identifier("an option name").0)
        }
        try expect("=", "after the option name")
        let valueLocation = token.location
        var value = ""
        let signed = isSymbol("-") || isSymbol("+")
        if signed { value = isSymbol("-") ? "-" : ""; _ = next() }
        var isIdentifier = false
        if case .identifier = token.kind, !signed { isIdentifier = true }
        switch token.kind {
        case .identifier(let s), .integer(let s), .float(let s): value += s
        case .string(let s):
            value += s
            while case .string(let more) = peek().kind { _ = next(); value += more }
        case .symbol("{"):
            throw error(valueLocation, "aggregate option values are not supported")
        default:
            throw error(valueLocation, "expected an option value, found \(token.display)")
        }
        _ = next()
        return (name, value, isIdentifier, location, valueLocation)
    }

    // MARK: Messages

    private mutating func message(scope: String) throws -> Message {
        let keyword = next()
        let (name, _) = try identifier("a message name")
        let fullName = qualified(scope, name)
        let open = try expect("{", "after the message name")
        var m = Message(name: name, fullName: fullName,
                        comments: keyword.leadingComments + open.trailingComments, location: keyword.location)
        while !isSymbol("}") {
            let t = token
            switch t.kind {
            case .end: throw error(t.location, "expected '}' to close message '\(name)'")
            case .symbol(";"): _ = next()
            case .identifier("message"): m.messages.append(try message(scope: fullName))
            case .identifier("enum"): m.enums.append(try enumeration(scope: fullName))
            case .identifier("option"): try option()
            case .identifier("reserved"):
                try reserved(ranges: &m.reservedRanges, names: &m.reservedNames, max: Resolver.maxFieldNumber)
            case .identifier("oneof"): try oneof(into: &m)
            case .identifier("map") where peek().kind == .symbol("<"): try mapField(into: &m)
            case .identifier("optional"):
                throw error(t.location, "'optional' (explicit presence) is not supported: use a plain field")
            case .identifier("required"): throw error(t.location, "'required' is not allowed in proto3")
            case .identifier("extensions"), .identifier("extend"): throw error(t.location, "extensions are not supported")
            case .identifier("group"): throw error(t.location, "groups are not supported")
            case .identifier, .symbol("."): m.fields.append(try field())
            default: throw error(t.location, "expected a field, 'message', 'enum', 'reserved' or '}', found \(t.display)")
            }
        }
        _ = next()
        return m
    }

    private mutating func field() throws -> Field {
        let first = token
        var repeated = false
        if isKeyword("repeated") { _ = next(); repeated = true }
        if isKeyword("map"), peek().kind == .symbol("<") {
            throw error(token.location, "a map field cannot be 'repeated'")
        }
        let (typeName, typeLocation) = try dottedName("a field type", allowLeadingDot: true)
        let (name, nameLocation) = try identifier("a field name")
        try expect("=", "after the field name '\(name)'")
        let (number, numberLocation) = try integer("a field number")
        var packed = true
        var packedLocation: SourceLocation?
        if isSymbol("[") {
            _ = next()
            while true {
                let o = try optionAssignment()
                switch o.name {
                case "packed":
                    guard o.value == "true" || o.value == "false" else {
                        throw error(o.location, "option 'packed' takes true or false")
                    }
                    packed = o.value == "true"
                    // As protoc: only `packed = true` needs a packable field; `false` is always accepted.
                    packedLocation = packed ? o.location : nil
                    if packed, !repeated || ScalarType(rawValue: typeName)?.isPackable == false {
                        throw error(o.location, "[packed] is only allowed on repeated numeric or enum fields")
                    }
                case "default":
                    throw error(o.location, "explicit default values are not allowed in proto3")
                default:
                    break  // deprecated, json_name, custom options: no meaning for us
                }
                if isSymbol(",") { _ = next(); continue }
                try expect("]", "after the field options")
                break
            }
        }
        let end = try expect(";", "after the field '\(name)'")
        let type: FieldType = ScalarType(rawValue: typeName).map { .scalar($0) } ?? .unresolved(typeName)
        return Field(name: name, number: number, type: type, isRepeated: repeated,
                     isPacked: packed && repeated, comments: first.leadingComments + end.trailingComments,
                     location: nameLocation, numberLocation: numberLocation, typeLocation: typeLocation, packedOptionLocation: packedLocation)
    }

    /// `oneof name { field; … }`: plain fields (no label, no map) sharing one presence.
    private mutating func oneof(into m: inout Message) throws {
        _ = next()
        let (name, location) = try identifier("a oneof name")
        guard !m.oneofs.contains(name) else { throw error(location, "oneof '\(name)' is already defined in '\(m.name)'") }
        try expect("{", "after the oneof name")
        let index = m.oneofs.count
        m.oneofs.append(name)
        var count = 0
        while !isSymbol("}") {
            let t = token
            switch t.kind {
            case .end: throw error(t.location, "expected '}' to close oneof '\(name)'")
            case .symbol(";"): _ = next()
            case .identifier("option"): try option()
            case .identifier("repeated"), .identifier("optional"), .identifier("required"):
                throw error(t.location, "fields in oneofs must not have labels")
            case .identifier("map") where peek().kind == .symbol("<"):
                throw error(t.location, "map fields are not allowed in oneofs")
            case .identifier, .symbol("."):
                var f = try field()
                f.oneofIndex = index
                m.fields.append(f)
                count += 1
            default: throw error(t.location, "expected a field or '}', found \(t.display)")
            }
        }
        guard count > 0 else { throw error(location, "oneof '\(name)' must have at least one field") }
        _ = next()
    }

    /// `map<K, V> name = N;` becomes what protoc makes of it: a nested message `<Name>Entry`
    /// (`K key = 1; V value = 2;`, marked as a map entry) and a repeated field of that type.
    private mutating func mapField(into m: inout Message) throws {
        let first = next()
        try expect("<", "after 'map'")
        let (keyName, keyLocation) = try dottedName("a map key type", allowLeadingDot: true)
        guard let key = ScalarType(rawValue: keyName), ![.double, .float, .bytes].contains(key) else {
            throw error(keyLocation, "a map key must be an integer, bool or string type, not '\(keyName)'")
        }
        try expect(",", "after the map key type")
        let (valueName, valueLocation) = try dottedName("a map value type", allowLeadingDot: true)
        try expect(">", "after the map value type")
        let (name, nameLocation) = try identifier("a field name")
        try expect("=", "after the field name '\(name)'")
        let (number, numberLocation) = try integer("a field number")
        if isSymbol("[") {
            _ = next()
            while true {
                _ = try optionAssignment()
                if isSymbol(",") { _ = next(); continue }
                try expect("]", "after the field options")
                break
            }
        }
        let end = try expect(";", "after the field '\(name)'")
        var camel = Naming.jsonName(name)
        camel = camel.prefix(1).uppercased() + camel.dropFirst()
        let entryName = camel + "Entry"
        let valueType: FieldType = ScalarType(rawValue: valueName).map { .scalar($0) } ?? .unresolved(valueName)
        func entryField(_ n: String, _ number: Int, _ type: FieldType, _ at: SourceLocation) -> Field {
            Field(name: n, number: number, type: type, isRepeated: false, isPacked: false, comments: [],
                  location: at, numberLocation: at, typeLocation: at, packedOptionLocation: nil)
        }
        var entry = Message(name: entryName, fullName: qualified(m.fullName, entryName), comments: [], location: nameLocation)
        entry.isMapEntry = true
        entry.fields = [entryField("key", 1, .scalar(key), keyLocation), entryField("value", 2, valueType, valueLocation)]
        m.messages.append(entry)
        m.fields.append(Field(name: name, number: number, type: .unresolved(entryName), isRepeated: true, isPacked: false,
                              comments: first.leadingComments + end.trailingComments, location: nameLocation,
                              numberLocation: numberLocation, typeLocation: nameLocation, packedOptionLocation: nil))
    }

    /// `reserved 2, 15, 9 to 11, 40 to max;` or `reserved "foo", "bar";`
    private mutating func reserved(ranges: inout [ReservedRange], names: inout [String], max: Int) throws {
        _ = next()
        if case .string = token.kind {
            while case .string(let s) = token.kind {
                names.append(s)
                _ = next()
                if isSymbol(",") { _ = next() } else { break }
            }
        } else {
            while true {
                let (lower, location) = try integer("a reserved number")
                var upper = lower
                if isKeyword("to") {
                    _ = next()
                    if isKeyword("max") { _ = next(); upper = max } else { upper = try integer("a reserved number").0 }
                }
                guard lower <= upper else { throw error(location, "reserved range \(lower) to \(upper) is empty") }
                ranges.append(ReservedRange(lower: lower, upper: upper, location: location))
                if isSymbol(",") { _ = next() } else { break }
            }
        }
        try expect(";", "after the reserved statement")
    }

    // MARK: Enums

    private mutating func enumeration(scope: String) throws -> Enumeration {
        let keyword = next()
        let (name, _) = try identifier("an enum name")
        let open = try expect("{", "after the enum name")
        var e = Enumeration(name: name, fullName: qualified(scope, name),
                            comments: keyword.leadingComments + open.trailingComments, location: keyword.location)
        while !isSymbol("}") {
            let t = token
            switch t.kind {
            case .end: throw error(t.location, "expected '}' to close enum '\(name)'")
            case .symbol(";"): _ = next()
            case .identifier("option"):
                _ = next()
                let o = try optionAssignment()
                if o.name == "allow_alias", o.value == "true" {
                    throw error(o.location, "enum value aliases (allow_alias) are not supported")
                }
                try expect(";", "after the option")
            case .identifier("reserved"):
                try reserved(ranges: &e.reservedRanges, names: &e.reservedNames, max: Int(Int32.max))
            case .identifier(let valueName):
                _ = next()
                try expect("=", "after the enum value '\(valueName)'")
                let (number, numberLocation) = try integer("an enum value number")
                guard number >= Int(Int32.min), number <= Int(Int32.max) else {
                    throw error(numberLocation, "enum value \(number) is out of the int32 range")
                }
                if isSymbol("[") {
                    _ = next()
                    while true {
                        _ = try optionAssignment()
                        if isSymbol(",") { _ = next(); continue }
                        try expect("]", "after the enum value options")
                        break
                    }
                }
                let end = try expect(";", "after the enum value '\(valueName)'")
                e.values.append(EnumValue(name: valueName, number: number,
                                          comments: t.leadingComments + end.trailingComments, location: t.location))
            default:
                throw error(t.location, "expected an enum value or '}', found \(t.display)")
            }
        }
        _ = next()
        return e
    }

    // MARK: Services

    private mutating func service() throws -> Service {
        let keyword = next()
        let (name, _) = try identifier("a service name")
        let open = try expect("{", "after the service name")
        var s = Service(name: name, fullName: qualified(schema.package, name),
                        comments: keyword.leadingComments + open.trailingComments, location: keyword.location)
        while !isSymbol("}") {
            let t = token
            switch t.kind {
            case .end: throw error(t.location, "expected '}' to close service '\(name)'")
            case .symbol(";"): _ = next()
            case .identifier("option"): try option()
            case .identifier("rpc"): s.methods.append(try rpc())
            default: throw error(t.location, "expected 'rpc' or '}', found \(t.display)")
            }
        }
        _ = next()
        return s
    }

    private mutating func rpc() throws -> RPC {
        let keyword = next()
        let (name, _) = try identifier("an rpc name")
        try expect("(", "after the rpc name")
        var clientStreaming = false, serverStreaming = false
        if isKeyword("stream"), case .identifier = peek().kind {
            _ = next()
            clientStreaming = true
        }
        let (input, inputLocation) = try dottedName("a request type", allowLeadingDot: true)
        try expect(")", "after the request type")
        guard isKeyword("returns") else { throw error(token.location, "expected 'returns', found \(token.display)") }
        _ = next()
        try expect("(", "after 'returns'")
        if isKeyword("stream"), case .identifier = peek().kind {
            _ = next()
            serverStreaming = true
        }
        let (output, outputLocation) = try dottedName("a reply type", allowLeadingDot: true)
        try expect(")", "after the reply type")
        var trailing: [String]
        var idempotency = Idempotency.unknown
        if isSymbol("{") {
            trailing = next().trailingComments
            var seen: Set<String> = []
            while !isSymbol("}") {
                if isSymbol(";") { _ = next(); continue }
                if token.kind == .end { throw error(token.location, "expected '}' to close rpc '\(name)'") }
                guard isKeyword("option") else { throw error(token.location, "expected 'option' or '}', found \(token.display)") }
                _ = next()
                let o = try optionAssignment()
                guard seen.insert(o.name).inserted else {
                    throw error(o.location, "option '\(o.name)' is already set for rpc '\(name)'")
                }
                switch o.name {
                case "idempotency_level":
                    guard o.isIdentifier, let level = Idempotency(rawValue: o.value) else {
                        throw error(o.valueLocation, "unknown idempotency_level '\(o.value)': expected "
                            + "IDEMPOTENCY_UNKNOWN, NO_SIDE_EFFECTS or IDEMPOTENT")
                    }
                    idempotency = level
                case "deprecated":
                    guard o.isIdentifier, o.value == "true" || o.value == "false" else {
                        throw error(o.valueLocation, "option 'deprecated' takes true or false")
                    }
                default:
                    // protoc refuses a name MethodOptions does not have; custom options need an import.
                    throw error(o.location, "unknown rpc option '\(o.name)': rpcgen knows idempotency_level and deprecated")
                }
                try expect(";", "after the option")
            }
            _ = next()
            if isSymbol(";") { trailing += next().trailingComments }
        } else {
            trailing = try expect(";", "after the rpc '\(name)'").trailingComments
        }
        return RPC(name: name, input: input, output: output, clientStreaming: clientStreaming,
                   serverStreaming: serverStreaming, idempotency: idempotency,
                   comments: keyword.leadingComments + trailing,
                   location: keyword.location, inputLocation: inputLocation, outputLocation: outputLocation)
    }
}
