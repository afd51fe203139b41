/// One token of a schema, with the comments that document it.
struct Token: Equatable {
    enum Kind: Equatable {
        case identifier(String)
        /// An integer literal as written (decimal, `0x` hex or `0` octal).
        case integer(String)
        case float(String)
        /// A string literal, escapes resolved (adjacent literals are separate tokens).
        case string(String)
        case symbol(Character)
        case end
    }

    var kind: Kind
    var location: SourceLocation
    /// Comment lines right before the token (no blank line between), markers stripped.
    var leadingComments: [String] = []
    /// A comment on the same line, after the token (`int32 x = 1; // like this`).
    var trailingComments: [String] = []

    /// How the token is shown in error messages.
    var display: String {
        switch kind {
        case .identifier(let s), .integer(let s), .float(let s): "'\(s)'"
        case .string(let s): "\"\(s)\""
        case .symbol(let c): "'\(c)'"
        case .end: "end of file"
        }
    }
}

/// Splits a schema into tokens: proto3's identifiers, numbers, strings and symbols, with `//`
/// and `/* */` comments attached to the token they document.
struct Lexer {
    private let file: String
    private let chars: [Character]
    private var index = 0
    private var line = 1
    private var column = 1

    init(file: String, source: String) {
        self.file = file
        chars = Array(source)
    }

    static func tokenize(file: String, source: String) throws -> [Token] {
        var lexer = Lexer(file: file, source: source)
        return try lexer.run()
    }

    private var current: Character? { index < chars.count ? chars[index] : nil }
    private func peek(_ offset: Int) -> Character? { index + offset < chars.count ? chars[index + offset] : nil }
    private var location: SourceLocation { SourceLocation(line: line, column: column) }

    private mutating func advance() {
        if chars[index].isNewline { line += 1; column = 1 } else { column += 1 }
        index += 1
    }

    private func error(_ at: SourceLocation, _ message: String) -> SchemaError {
        SchemaError(file: file, at, message)
    }

    private mutating func run() throws -> [Token] {
        var tokens: [Token] = []
        var pending: [String] = []
        var newlinesSincePending = 0
        while true {
            // Whitespace and comments.
            if let c = current, c.isWhitespace {
                if c.isNewline { newlinesSincePending += 1 }
                advance()
                if newlinesSincePending >= 2 { pending = []; newlinesSincePending = 0 }
                continue
            }
            if current == "/", peek(1) == "/" || peek(1) == "*" {
                let commentLine = line
                let text = try comment()
                if let last = tokens.last, last.location.line == commentLine, Self.endsStatement(last),
                   last.trailingComments.isEmpty, pending.isEmpty {
                    tokens[tokens.count - 1].trailingComments = text
                } else {
                    if newlinesSincePending >= 2 { pending = [] }
                    pending += text
                }
                newlinesSincePending = 0
                continue
            }
            let start = location
            guard let c = current else {
                tokens.append(Token(kind: .end, location: start))
                return tokens
            }
            var token: Token
            if c.isASCII, c.isLetter || c == "_" {
                var s = ""
                while let d = current, d.isLetter || d.isNumber || d == "_", d.isASCII { s.append(d); advance() }
                token = Token(kind: .identifier(s), location: start)
            } else if c.isASCII, c.isNumber || (c == "." && peek(1)?.isNumber == true) {
                token = Token(kind: try number(), location: start)
            } else if c == "\"" || c == "'" {
                token = Token(kind: .string(try string(quote: c)), location: start)
            } else if "=;{}[]()<>,.-+:".contains(c) {
                advance()
                token = Token(kind: .symbol(c), location: start)
            } else {
                throw error(start, "unexpected character '\(c)'")
            }
            token.leadingComments = pending
            pending = []
            newlinesSincePending = 0
            tokens.append(token)
        }
    }

    /// A comment on the line of `;` or `{` documents the statement that token ends or opens.
    private static func endsStatement(_ token: Token) -> Bool {
        token.kind == .symbol(";") || token.kind == .symbol("{")
    }

    /// Reads one comment and returns its lines without markers and the one space after them.
    private mutating func comment() throws -> [String] {
        let start = location
        advance()
        if current == "/" {
            advance()
            var text = ""
            while let c = current, !c.isNewline { text.append(c); advance() }
            return [Self.strip(text)]
        }
        advance()  // the '*'
        var text = ""
        while true {
            guard let c = current else { throw error(start, "unterminated /* comment") }
            if c == "*", peek(1) == "/" { advance(); advance(); break }
            text.append(c)
            advance()
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { line -> String in
            var l = Substring(line).drop(while: { $0 == " " || $0 == "\t" })
            if l.hasPrefix("*") { l = l.dropFirst() }
            return Self.strip(String(l))
        }
        while lines.first?.isEmpty == true { lines.removeFirst() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    private static func strip(_ s: String) -> String {
        var t = Substring(s)
        if t.first == " " { t = t.dropFirst() }
        while let last = t.last, last == " " || last == "\t" || last == "\r" { t = t.dropLast() }
        return String(t)
    }

    private mutating func number() throws -> Token.Kind {
        let start = location
        var s = ""
        var isFloat = false
        if current == "0", peek(1) == "x" || peek(1) == "X" {
            s = "0x"; advance(); advance()
            while let c = current, c.isHexDigit { s.append(c); advance() }
            if s.count == 2 { throw error(start, "expected hex digits after '0x'") }
        } else {
            while let c = current, c.isASCII, c.isNumber || c == "." || c == "e" || c == "E"
                    || ((c == "-" || c == "+") && (s.last == "e" || s.last == "E")) {
                if c == "." || c == "e" || c == "E" { isFloat = true }
                s.append(c)
                advance()
            }
        }
        if let c = current, c.isLetter || c == "_" { throw error(location, "unexpected '\(c)' after number '\(s)'") }
        return isFloat ? .float(s) : .integer(s)
    }

    private mutating func string(quote: Character) throws -> String {
        let start = location
        advance()
        var s = ""
        while true {
            guard let c = current, !c.isNewline else { throw error(start, "unterminated string literal") }
            advance()
            if c == quote { return s }
            if c != "\\" { s.append(c); continue }
            guard let e = current else { throw error(start, "unterminated string literal") }
            advance()
            switch e {
            case "n": s.append("\n")
            case "t": s.append("\t")
            case "r": s.append("\r")
            case "0"..."7":
                var v = Int(String(e))!
                var n = 1
                while n < 3, let d = current, let dv = Int(String(d)), dv < 8 { v = v * 8 + dv; advance(); n += 1 }
                s.unicodeScalars.append(Unicode.Scalar(UInt8(truncatingIfNeeded: v)))
            case "x", "X":
                var v = 0, n = 0
                while n < 2, let d = current, let dv = d.hexDigitValue { v = v * 16 + dv; advance(); n += 1 }
                guard n > 0 else { throw error(location, "expected hex digits after '\\x'") }
                s.unicodeScalars.append(Unicode.Scalar(UInt8(v)))
            default: s.append(e)
            }
        }
    }
}
