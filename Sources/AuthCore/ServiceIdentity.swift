import Foundation

/// How service accounts are named in tokens, and the alphabets of client ids, scopes and roles.
///
/// A service token's `sub` is `svc:` followed by the client id; a user's is its decimal id. A
/// decimal id never contains `:`, so the two can never be confused. Revocation (the feed's per-
/// subject cut-offs, keyed by a number) keys a service by `revocationKey`: a negative number
/// derived from the client id, while user ids are positive, so no user's cut-off can ever touch
/// a service's tokens or the reverse.
public enum ServiceIdentity {
    public static let subjectPrefix = "svc:"
    static let subjectPrefixBytes = Array(subjectPrefix.utf8)
    /// Scopes on an account, and roles of a user, at most.
    public static let maximumNames = 32

    /// A client id (the account's name): 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
    public static func isValidClientID(_ text: String) -> Bool {
        let u = Array(text.utf8)
        guard (1...64).contains(u.count), isLowerAlphanumeric(u[0]) else { return false }
        return u.allSatisfy { isLowerAlphanumeric($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    /// A scope or role: 1 to 64 of `A-Z a-z 0-9 . _ - : /` (so `orders:read`, `api/write`).
    public static func isValidName(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isValidName(UnsafeBufferPointer(rebasing: $0[...])) }
    }

    static func isValidName<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        (1...64).contains(bytes.count) && bytes.allSatisfy { c in
            isLowerAlphanumeric(c) || (c >= 65 && c <= 90) || c == 46 || c == 95 || c == 45 || c == 58 || c == 47
        }
    }

    /// Parses a comma-separated list of scopes or roles (blanks around items ignored); nil when
    /// one is not a valid name or there are too many. Duplicates are dropped, order kept.
    public static func parseList(_ text: String) -> [String]? {
        var out: [String] = []
        for item in text.split(separator: ",") {
            let name = item.trimmingCharacters(in: .whitespaces)
            guard isValidName(name) else { return nil }
            if !out.contains(name) { out.append(name) }
        }
        return out.count <= maximumNames ? out : nil
    }

    /// The feed's key for a service's tokens: a negative number from the SHA-256 of its client
    /// id (62 bits: a collision between two services is not a practical concern).
    public static func revocationKey(_ clientID: String) -> Int64 {
        let d = Digest.sha256(Array(clientID.utf8))
        let v = d[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> 2
        return -Int64(v) - 1
    }

    // MARK: Token parsing (cache misses only)

    /// The client id of a `sub` of the form `svc:<client id>`, or nil.
    static func clientID(subject raw: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        guard raw.count > subjectPrefixBytes.count, raw.starts(with: subjectPrefixBytes) else { return nil }
        let text = String(decoding: raw.dropFirst(subjectPrefixBytes.count), as: UTF8.self)
        return isValidClientID(text) ? text : nil
    }

    /// A scope or role from a token, or nil when not a valid name.
    static func name(_ raw: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        isValidName(raw) ? String(decoding: raw, as: UTF8.self) : nil
    }

    /// Names separated by single `separator` bytes (empty text: none); nil when one is invalid.
    static func words(_ raw: Slice<UnsafeBufferPointer<UInt8>>, separator: UInt8) -> [String]? {
        if raw.isEmpty { return [] }
        var out: [String] = []
        for part in raw.split(separator: separator, omittingEmptySubsequences: false) {
            guard isValidName(part), out.count < maximumNames else { return nil }
            out.append(String(decoding: part, as: UTF8.self))
        }
        return out
    }

    private static func isLowerAlphanumeric(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
}
