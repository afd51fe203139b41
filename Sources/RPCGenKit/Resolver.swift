/// Checks a parsed schema the way protoc does and resolves type names to full names.
///
/// Scoping follows protobuf: a type name is looked up from the innermost message outwards to
/// the package root (`.a.b.C` is fully qualified); enum values are siblings of their enum, so
/// two enums in one scope cannot share a value name.
struct Resolver {
    static let maxFieldNumber = (1 << 29) - 1
    static let implementationReserved = 19000...19999

    private enum Symbol { case package, message, enumeration, service, field, enumValue }

    private let file: String
    private var symbols: [String: Symbol] = [:]

    private init(file: String) { self.file = file }

    static func resolve(_ schema: SchemaFile) throws -> SchemaFile {
        var resolver = Resolver(file: schema.path)
        return try resolver.run(schema)
    }

    private func error(_ at: SourceLocation, _ message: String) -> SchemaError {
        SchemaError(file: file, at, message)
    }

    private func qualified(_ scope: String, _ name: String) -> String { scope.isEmpty ? name : "\(scope).\(name)" }

    private mutating func run(_ input: SchemaFile) throws -> SchemaFile {
        var schema = input
        registerPackage(schema.package)
        // protoc: the types of the files this one imports are visible (not those of their imports).
        for d in schema.dependencies {
            registerPackage(d.package)
            for m in d.messages { try registerImported(m, from: d) }
            for e in d.enums { try define(e.fullName, .enumeration, e.location, "'\(e.name)' (from \(d.protoName))") }
            for s in d.services { try define(s.fullName, .service, s.location, "'\(s.name)' (from \(d.protoName))") }
        }
        for m in schema.messages { try register(m, scope: schema.package) }
        for e in schema.enums { try register(e, scope: schema.package) }
        for s in schema.services { try define(s.fullName, .service, s.location, "'\(s.name)'") }

        for i in schema.messages.indices { try check(&schema.messages[i]) }
        for e in schema.enums { try check(e) }
        for i in schema.services.indices { try check(&schema.services[i], package: schema.package) }
        return schema
    }

    // MARK: Symbols

    private mutating func registerPackage(_ package: String) {
        var prefix = ""
        for part in package.split(separator: ".") {
            prefix = qualified(prefix, String(part))
            if symbols[prefix] == nil { symbols[prefix] = .package }
        }
    }

    private mutating func registerImported(_ m: Message, from d: SchemaFile) throws {
        try define(m.fullName, .message, m.location, "'\(m.name)' (from \(d.protoName))")
        for nested in m.messages { try registerImported(nested, from: d) }
        for e in m.enums { try define(e.fullName, .enumeration, e.location, "'\(e.name)' (from \(d.protoName))") }
    }

    private mutating func define(_ fullName: String, _ kind: Symbol, _ at: SourceLocation, _ what: String) throws {
        if symbols[fullName] != nil {
            let dot = fullName.lastIndex(of: ".")
            let scope = dot.map { String(fullName[..<$0]) } ?? ""
            throw error(at, "\(what) is already defined in \(scope.isEmpty ? "this file" : "'\(scope)'")")
        }
        symbols[fullName] = kind
    }

    /// Names the generated Swift uses unqualified (`String`, `Method`, …) cannot be type names.
    private func checkTypeName(_ name: String, _ at: SourceLocation) throws {
        if Naming.shadowingTypeNames.contains(name) {
            throw error(at, "'\(name)' would shadow a type the generated Swift code uses; choose another name")
        }
    }

    private mutating func register(_ m: Message, scope: String) throws {
        try checkTypeName(m.name, m.location)
        try define(m.fullName, .message, m.location, "'\(m.name)'")
        for f in m.fields { try define(qualified(m.fullName, f.name), .field, f.location, "'\(f.name)'") }
        for nested in m.messages { try register(nested, scope: m.fullName) }
        for e in m.enums { try register(e, scope: m.fullName) }
    }

    private mutating func register(_ e: Enumeration, scope: String) throws {
        try checkTypeName(e.name, e.location)
        try define(e.fullName, .enumeration, e.location, "'\(e.name)'")
        for v in e.values {
            // C++ scoping: the value is a sibling of its enum.
            try define(qualified(scope, v.name), .enumValue, v.location, "enum value '\(v.name)'")
        }
    }

    /// protoc's lookup: the first component of `name` from the innermost scope outwards, then the rest inside it.
    private func lookup(_ name: String, scope: String) -> (String, Symbol)? {
        if name.hasPrefix(".") {
            let full = String(name.dropFirst())
            return symbols[full].map { (full, $0) }
        }
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        var s = scope
        while true {
            let candidate = qualified(s, parts[0])
            if let kind = symbols[candidate] {
                if parts.count == 1 {
                    if kind == .message || kind == .enumeration || kind == .service { return (candidate, kind) }
                } else if kind == .message || kind == .package {
                    let full = qualified(candidate, parts[1])
                    return symbols[full].map { (full, $0) }
                }
            }
            if s.isEmpty { return nil }
            s = s.lastIndex(of: ".").map { String(s[..<$0]) } ?? ""
        }
    }

    // MARK: Messages

    private mutating func check(_ m: inout Message) throws {
        for r in m.reservedRanges {
            guard r.lower >= 1, r.upper <= Self.maxFieldNumber else {
                throw error(r.location, "reserved field numbers must be between 1 and \(Self.maxFieldNumber)")
            }
        }
        var numbers: [Int: String] = [:]
        var camelNames: [String: String] = [:]
        for i in m.fields.indices {
            let f = m.fields[i]
            if f.number <= 0 {
                throw error(f.numberLocation, "field number \(f.number) of '\(f.name)' is not allowed: numbers start at 1")
            }
            if f.number > Self.maxFieldNumber {
                throw error(f.numberLocation, "field number \(f.number) of '\(f.name)' is above the maximum \(Self.maxFieldNumber) (2^29-1)")
            }
            if Self.implementationReserved.contains(f.number) {
                throw error(f.numberLocation, "field number \(f.number) of '\(f.name)' is in 19000 to 19999, reserved for the protobuf implementation")
            }
            if let other = numbers[f.number] {
                throw error(f.numberLocation, "field number \(f.number) of '\(f.name)' is already used by '\(other)' in '\(m.name)'")
            }
            numbers[f.number] = f.name
            if m.reservedRanges.contains(where: { $0.lower <= f.number && f.number <= $0.upper }) {
                throw error(f.numberLocation, "field number \(f.number) of '\(f.name)' is reserved in '\(m.name)'")
            }
            if m.reservedNames.contains(f.name) {
                throw error(f.location, "field name '\(f.name)' is reserved in '\(m.name)'")
            }
            let camel = Naming.jsonName(f.name)
            if let other = camelNames[camel] {
                throw error(f.location, "the camel-case name of field '\(f.name)' conflicts with field '\(other)'")
            }
            camelNames[camel] = f.name
            try resolveType(&m.fields[i], scope: m.fullName)
        }
        for i in m.messages.indices { try check(&m.messages[i]) }
        for e in m.enums { try check(e) }
    }

    private func resolveType(_ f: inout Field, scope: String) throws {
        if case .unresolved(let name) = f.type {
            guard let (full, kind) = lookup(name, scope: scope) else {
                throw error(f.typeLocation, "unknown type '\(name)'")
            }
            switch kind {
            case .message: f.type = .message(full)
            case .enumeration: f.type = .enumeration(full)
            default: throw error(f.typeLocation, "'\(name)' is not a message or enum type")
            }
        }
        if case .message = f.type, let at = f.packedOptionLocation {
            throw error(at, "[packed] is only allowed on repeated numeric or enum fields")
        }
        if !f.isRepeated { f.isPacked = false }
    }

    // MARK: Enums

    private func check(_ e: Enumeration) throws {
        guard let first = e.values.first else { throw error(e.location, "enum '\(e.name)' must have at least one value") }
        guard first.number == 0 else {
            throw error(first.location, "the first value of enum '\(e.name)' must be 0 in proto3 (it is the default)")
        }
        var numbers: [Int: String] = [:]
        for v in e.values {
            if let other = numbers[v.number] {
                throw error(v.location, "'\(v.name)' uses the same number \(v.number) as '\(other)'; enum aliases are not supported")
            }
            numbers[v.number] = v.name
            if e.reservedRanges.contains(where: { $0.lower <= v.number && v.number <= $0.upper }) {
                throw error(v.location, "enum value number \(v.number) of '\(v.name)' is reserved in '\(e.name)'")
            }
            if e.reservedNames.contains(v.name) {
                throw error(v.location, "enum value name '\(v.name)' is reserved in '\(e.name)'")
            }
        }
        var cases: [String: String] = [:]
        for (v, c) in zip(e.values, Naming.enumCaseNames(e)) {
            if Naming.reservedCaseNames.contains(c) {
                throw error(v.location, "'\(v.name)' would become the Swift case '\(c)', which the generated enum uses itself")
            }
            if let other = cases[c] {
                throw error(v.location, "'\(v.name)' and '\(other)' both become the Swift case '\(c)'")
            }
            cases[c] = v.name
        }
    }

    // MARK: Services

    private func check(_ s: inout Service, package: String) throws {
        var names: [String: String] = [:]
        for i in s.methods.indices {
            let r = s.methods[i]
            let swiftName = Naming.lowerCamel(r.name)
            if let other = names[swiftName] {
                throw error(r.location, "rpc '\(r.name)' conflicts with rpc '\(other)' in service '\(s.name)'")
            }
            names[swiftName] = r.name
            s.methods[i].input = try messageType(r.input, at: r.inputLocation, scope: s.fullName)
            s.methods[i].output = try messageType(r.output, at: r.outputLocation, scope: s.fullName)
        }
    }

    private func messageType(_ name: String, at: SourceLocation, scope: String) throws -> String {
        guard let (full, kind) = lookup(name, scope: scope) else { throw error(at, "unknown type '\(name)'") }
        guard kind == .message else { throw error(at, "'\(name)' is not a message type") }
        return full
    }
}
