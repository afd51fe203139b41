/// A strict, allocation-light reader of the flat JSON objects in JWT headers and claim sets
/// (RFC 8259 grammar; nesting inside skipped values is bounded). It works on the decoded bytes in
/// place so the validation hot path builds no Foundation objects.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    static let maximumDepth = 16

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count {
            let c = bytes[index]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { return }
            index += 1
        }
    }

    /// Consumes `c` after optional whitespace.
    mutating func consume(_ c: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == c else { return false }
        index += 1
        return true
    }

    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// A string token: the range of its raw content, and whether it has escapes.
    mutating func string() -> (range: Range<Int>, escaped: Bool)? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        var escaped = false
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                return (start..<(index - 1), escaped)
            }
            if c < 0x20 { return nil }
            if c == UInt8(ascii: "\\") {
                escaped = true
                index += 1
                guard index < bytes.count else { return nil }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count else { return nil }
                    for k in 1...4 where JSONScanner.hexValue(bytes[index + k]) == nil { return nil }
                    index += 5
                default:
                    return nil
                }
            } else {
                index += 1
            }
        }
        return nil
    }

    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 48...57: UInt32(c - 48)
        case 65...70: UInt32(c - 55)
        case 97...102: UInt32(c - 87)
        default: nil
        }
    }

    /// The string's content with escapes resolved, as UTF-8 bytes (nil on a lone surrogate).
    func unescaped(_ token: (range: Range<Int>, escaped: Bool)) -> [UInt8]? {
        let raw = bytes[token.range]
        guard token.escaped else { return Array(raw) }
        var out = [UInt8]()
        var i = token.range.lowerBound
        func hex4(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 << 4 | JSONScanner.hexValue(bytes[at + $1])! }
        }
        while i < token.range.upperBound {
            let c = bytes[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = hex4(i)
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 6 <= token.range.upperBound, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { return nil }
                    let low = hex4(i + 2)
                    guard low >= 0xDC00 && low < 0xE000 else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    return nil
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: out.append(e)  // \" \\ \/
            }
        }
        return out
    }

    /// Whether the string token equals `expected` (after resolving escapes).
    func string(_ token: (range: Range<Int>, escaped: Bool), equals expected: [UInt8]) -> Bool {
        if !token.escaped {
            guard token.range.count == expected.count else { return false }
            var i = token.range.lowerBound
            for e in expected {
                if bytes[i] != e { return false }
                i += 1
            }
            return true
        }
        return unescaped(token) == expected
    }

    /// A number; NumericDate values are truncated to whole seconds. nil when not a JSON number
    /// or out of Int64 range.
    mutating func integer() -> Int64? {
        skipWhitespace()
        let start = index
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
        let digitsStart = index
        var value: Int64 = 0, overflow = false
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[index] - 48))
            overflow = overflow || o1 || o2
            value = a
            index += 1
        }
        let digits = index - digitsStart
        guard digits > 0, !(digits > 1 && bytes[digitsStart] == 48) else { return nil }
        var simple = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            simple = false
            index += 1
            let f = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
            guard index > f else { return nil }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            simple = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let f = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
            guard index > f else { return nil }
        }
        if simple {
            guard !overflow else { return nil }
            return negative ? -value : value
        }
        guard let d = Double(String(decoding: bytes[start..<index], as: UTF8.self)), d.isFinite,
              d > -9.2e18, d < 9.2e18 else { return nil }
        return Int64(d.rounded(.down))
    }

    /// Skips any JSON value, checking its syntax.
    mutating func skipValue(depth: Int = 0) -> Bool {
        guard depth < JSONScanner.maximumDepth, let c = peek() else { return false }
        switch c {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "{"):
            index += 1
            if consume(UInt8(ascii: "}")) { return true }
            repeat {
                guard string() != nil, consume(UInt8(ascii: ":")), skipValue(depth: depth + 1) else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if consume(UInt8(ascii: "]")) { return true }
            repeat {
                guard skipValue(depth: depth + 1) else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return integer() != nil
        }
    }

    /// Reads `true` or `false`; nil for anything else.
    mutating func boolean() -> Bool? {
        skipWhitespace()
        if literal("true") { return true }
        if literal("false") { return false }
        return nil
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard index + n <= bytes.count else { return false }
        let p = word.utf8Start
        for k in 0..<n where bytes[index + k] != p[k] { return false }
        index += n
        return true
    }

    /// Iterates the members of the top-level object, calling `member` with each key token; the
    /// callback must consume the value. Returns false on any syntax error, on trailing bytes, or
    /// when `member` returns false.
    mutating func object(_ member: (inout JSONScanner, (range: Range<Int>, escaped: Bool)) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "{")) else { return false }
        if !consume(UInt8(ascii: "}")) {
            repeat {
                guard let key = string(), consume(UInt8(ascii: ":")), member(&self, key) else { return false }
            } while consume(UInt8(ascii: ","))
            guard consume(UInt8(ascii: "}")) else { return false }
        }
        skipWhitespace()
        return atEnd
    }
}
