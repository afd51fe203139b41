/// An email address as the core accepts it: trimmed, at most 254 characters, ASCII
/// (internationalised domains must come as punycode), `local@domain` with a dot-atom local part of
/// at most 64 characters and a domain of at least two DNS labels. `key` is the lower-cased form
/// that uniqueness is checked on.
public struct EmailAddress: Sendable, Equatable {
    /// As given, trimmed.
    public let value: String
    /// Lower-cased: two addresses differing only in case are the same account.
    public let key: String

    public init?(_ raw: String) {
        let trimmed = raw.trimmingWhitespace()
        let bytes = Array(trimmed.utf8)
        guard bytes.count >= 3, bytes.count <= 254,
              let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { return nil }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        guard EmailAddress.isDotAtom(local), local.count <= 64, EmailAddress.isDomain(domain) else { return nil }
        value = trimmed
        key = String(decoding: bytes.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    private static func isAtext(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-/=?^_`{|}~".utf8.contains(c)
        }
    }

    private static func isDotAtom(_ s: ArraySlice<UInt8>) -> Bool {
        guard let first = s.first, let last = s.last, first != UInt8(ascii: "."), last != UInt8(ascii: ".") else { return false }
        var previousDot = false
        for c in s {
            if c == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
            } else {
                guard isAtext(c) else { return false }
                previousDot = false
            }
        }
        return true
    }

    private static func isDomain(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.count <= 253 else { return false }
        let labels = s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard !label.isEmpty, label.count <= 63,
                  label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return false }
            for c in label {
                let ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == UInt8(ascii: "-")
                guard ok else { return false }
            }
        }
        // The top-level label is never all digits (that would be an IP address).
        return !labels.last!.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[start...end])
    }
}
