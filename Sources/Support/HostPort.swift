import Foundation

/// A `HOST:PORT` address as operators write it: `db1:3306`, `127.0.0.1:7443`, `[::1]:7443`
/// (an IPv6 literal in brackets). The one parser behind `--listen`, `--db-hosts`, `--server` and
/// the balanced client's address list.
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    /// The host name or address, without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Why a text is not an address; `description` quotes the text and says what was wrong.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "\(text.debugDescription) is not HOST:PORT (\(reason))" }
    }

    /// Parses `HOST:PORT` or `[V6]:PORT`. The port must be within 1...65535, or 0...65535 when
    /// `allowPortZero` (a listener asking the system for a free port). An empty host is refused
    /// unless `defaultHost` is given.
    public static func parse(_ text: String, allowPortZero: Bool = false, defaultHost: String? = nil) throws(ParseError) -> HostPort {
        let fail = { (reason: String) in ParseError(text: text, reason: reason) }
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("unclosed [") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("no :PORT after ]") }
            portText = rest.dropFirst()
            guard host.contains(":") else { throw fail("brackets are for IPv6 addresses") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("no :PORT") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else { throw fail("an IPv6 address goes in brackets, as [::1]:7443") }
        }
        if host.isEmpty {
            guard let defaultHost else { throw fail("no host") }
            host = Substring(defaultHost)
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText) else { throw fail("the port is not a number") }
        guard (allowPortZero ? 0 : 1)...65535 ~= port else { throw fail("port \(port) is out of range") }
        return HostPort(host: String(host), port: port)
    }

    /// Parses a comma-separated list (`a:1,b:2`, spaces around items allowed); at least one.
    public static func parseList(_ text: String) throws(ParseError) -> [HostPort] {
        var out: [HostPort] = []
        for item in text.split(separator: ",") {
            out.append(try parse(item.trimmingCharacters(in: .whitespaces)))
        }
        guard !out.isEmpty else { throw ParseError(text: text, reason: "no address") }
        return out
    }

    /// `host:port`, with brackets around an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
