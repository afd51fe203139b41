/// Per-call key/value pairs sent with a call (for example `authorization: Bearer <token>`).
/// Keys are lower-case ASCII; a key may repeat. Order is kept.
public struct Metadata: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [(key: String, value: String)]

    public init() { entries = [] }

    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { (key: $0.0.lowercased(), value: $0.1) }
    }

    /// Appends a pair; the key is lower-cased.
    public mutating func add(_ key: String, _ value: String) {
        entries.append((key: key.lowercased(), value: value))
    }

    /// Appends a pair whose key the caller knows is lower case already (an HTTP/2 header name:
    /// the protocol requires it, and nghttp2 refuses any other), sparing the copy `add` makes.
    public mutating func add(lowercasedKey key: String, _ value: String) {
        entries.append((key: key, value: value))
    }

    /// The first value for `key`, or nil; setting replaces every value of that key.
    public subscript(key: String) -> String? {
        get {
            let k = key.lowercased()
            return entries.first(where: { $0.key == k })?.value
        }
        set {
            let k = key.lowercased()
            entries.removeAll(where: { $0.key == k })
            if let newValue { entries.append((key: k, value: newValue)) }
        }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> {
        entries.makeIterator()
    }

    /// The bearer token of an `authorization: Bearer <token>` entry, if any.
    public var bearerToken: String? {
        self["authorization"].flatMap(Self.bearerToken(authorization:))
    }

    /// The token of an `authorization` header value `Bearer <token>`, if it is one.
    public static func bearerToken(authorization value: String) -> String? {
        // The scheme is case-insensitive (RFC 9110): only its 7 characters are lower-cased (a small
        // string, no heap copy), not the whole value with the token.
        let prefix = "bearer "
        guard value.utf8.count > prefix.utf8.count, value.prefix(prefix.count).lowercased() == prefix else { return nil }
        return String(value.dropFirst(prefix.count)).trimmingCharacters(in: " ")
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.elementsEqual(rhs.entries, by: { $0.key == $1.key && $0.value == $1.value })
    }
}

extension String {
    fileprivate func trimmingCharacters(in c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}
