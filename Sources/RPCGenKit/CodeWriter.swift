/// Builds generated source line by line with indentation: our emitters need no more than this.
struct CodeWriter {
    private(set) var text = ""
    private var level = 0
    private let unit: String

    init(indent: String = "    ") { unit = indent }

    /// Appends one line at the current indentation (an empty string gives an empty line).
    mutating func line(_ s: String = "") {
        if s.isEmpty { text += "\n"; return }
        text += String(repeating: unit, count: level) + s + "\n"
    }

    /// Appends `open`, the body one level deeper, then `close`.
    mutating func block(_ open: String, close: String = "}", _ body: (inout CodeWriter) -> Void) {
        line(open)
        level += 1
        body(&self)
        level -= 1
        line(close)
    }

    mutating func indent(_ body: (inout CodeWriter) -> Void) {
        level += 1
        body(&self)
        level -= 1
    }

    /// Comment lines as `prefix` lines (`///` or `#`), none when `lines` is empty.
    mutating func comments(_ lines: [String], prefix: String = "///") {
        for l in lines { line(l.isEmpty ? prefix : "\(prefix) \(l)") }
    }
}

extension CodeWriter {
    /// Drops one trailing empty line (Python blocks end with one; some places want none).
    mutating func removeTrailingEmptyLine() {
        if text.hasSuffix("\n\n") { text.removeLast() }
    }
}
