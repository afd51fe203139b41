/// How schema names become Swift and Python names.
enum Naming {
    /// protobuf's JSON name: underscores dropped, the letter after each one upper-cased (`expires_at` → `expiresAt`).
    static func jsonName(_ name: String) -> String {
        var out = ""
        var upperNext = false
        for c in name {
            if c == "_" { upperNext = true; continue }
            out += upperNext ? c.uppercased() : String(c)
            upperNext = false
        }
        return out
    }

    /// `expires_at` → `expiresAt`, `RevokeAll` → `revokeAll`, `HTTPRequest` → `httpRequest`.
    static func lowerCamel(_ name: String) -> String {
        let camel = Array(jsonName(name))
        var i = 0
        while i < camel.count, camel[i].isUppercase { i += 1 }
        // Keep the last capital of a run when it starts the next word (`HTTPRequest`).
        if i > 1, i < camel.count, camel[i].isLowercase { i -= 1 }
        return camel[..<i].map { $0.lowercased() }.joined() + String(camel[i...])
    }

    /// `TokenRefusal` → `TOKEN_REFUSAL`, the prefix protoc style puts on an enum's values.
    static func upperSnake(_ name: String) -> String {
        let chars = Array(name)
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prev = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && nextIsLower) { out += "_" }
            }
            out += c.uppercased()
        }
        return out
    }

    /// swift-protobuf's type prefix for a package: `grpc.health.v1` → `Grpc_Health_V1_` (empty for none).
    static func swiftPackagePrefix(_ package: String) -> String {
        guard !package.isEmpty else { return "" }
        return package.split(separator: ".").map { part in
            Naming.jsonName(String(part)).prefix(1).uppercased() + Naming.jsonName(String(part)).dropFirst()
        }.joined(separator: "_") + "_"
    }

    /// `RevokeAll` → `revoke_all`.
    static func snakeCase(_ name: String) -> String { upperSnake(name).lowercased() }

    /// `NOT_SERVING` → `notServing`.
    static func caseName(_ valueName: String) -> String {
        let words = valueName.split(separator: "_").map(String.init)
        var out = ""
        for (i, word) in words.enumerated() {
            let w = word == word.uppercased() ? word.lowercased() : word
            out += i == 0 ? w.prefix(1).lowercased() + w.dropFirst() : w.prefix(1).uppercased() + w.dropFirst()
        }
        return out.isEmpty ? valueName.lowercased() : out
    }

    /// The Swift case names of an enum's values: lowerCamel, with the `ENUM_NAME_` prefix
    /// stripped when every stripped name stays a distinct identifier.
    static func enumCaseNames(_ e: Enumeration) -> [String] {
        let prefix = upperSnake(e.name) + "_"
        let stripped = e.values.map { v -> String? in
            guard v.name.hasPrefix(prefix) else { return caseName(v.name) }
            let rest = v.name.dropFirst(prefix.count)
            guard let first = rest.first, first.isLetter else { return nil }
            return caseName(String(rest))
        }
        let names = stripped.compactMap { $0 }
        if names.count == e.values.count, Set(names).count == names.count, reservedCaseNames.isDisjoint(with: names) {
            return names
        }
        return e.values.map { caseName($0.name) }
    }

    /// Members every generated enum has, which a case must not take.
    static let reservedCaseNames: Set<String> = ["unrecognized", "rawValue", "init"]

    /// Types the generated Swift names unqualified: a message or enum of that name would shadow them.
    static let shadowingTypeNames: Set<String> = [
        "String", "Bool", "Int32", "Int64", "UInt32", "UInt64", "UInt8", "Float", "Double", "Set", "Sendable",
        "ProtoMessage", "ProtoEnum", "ProtoReader", "ProtoWriter", "ProtoIndirect", "MethodDescriptor",
        "ServerContext", "ServerMethod", "HandlerKind", "RPCServiceProvider", "ClientTransport", "CallOptions",
        "RPCError", "Method", "Handler", "Service", "Client",
    ]

    private static let swiftKeywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self",
        "super", "throws", "true", "try", "Type", "Protocol",
    ]

    /// A Swift identifier, in backticks when it is a keyword.
    static func swiftIdentifier(_ name: String) -> String {
        swiftKeywords.contains(name) ? "`\(name)`" : name
    }

    private static let pythonReserved: Set<String> = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
        "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
        "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
        // Members of the generated classes.
        "encode", "decode", "self",
    ]

    /// A Python identifier: a keyword or a generated member's name gets a trailing underscore.
    static func pythonIdentifier(_ name: String) -> String {
        pythonReserved.contains(name) ? name + "_" : name
    }
}
