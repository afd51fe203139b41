import Glibc

/// An IPv4 or IPv6 address, from text or from the bytes of a socket address. An IPv4-mapped
/// IPv6 address (`::ffff:192.0.2.1`, what a dual-stack listener sees of an IPv4 client) is the
/// IPv4 address, so one client has one value whichever way it arrived.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// In host byte order.
    case v4(UInt32)
    /// The high and low 64 bits, in host byte order.
    case v6(high: UInt64, low: UInt64)

    /// Parses a numeric address (`192.0.2.1`, `2001:db8::1`); nil for anything else (names,
    /// brackets, zone ids, leading zeros in IPv4).
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        guard !text.isEmpty, text.utf8.count <= 45, !text.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        var v6 = in6_addr()
        // inet_pton returns 1 for a valid address of the family, 0 for text that is not one.
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self = withUnsafeBytes(of: &v6) { IPAddress(ipv6: $0) }
        } else {
            return nil
        }
    }

    /// The 4 bytes of an IPv4 address, in network order.
    public init(ipv4 bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 4)
        self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
    }

    /// The 16 bytes of an IPv6 address, in network order; IPv4-mapped ones become `.v4`.
    public init(ipv6 bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 16)
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if high == 0 && low >> 32 == 0xFFFF {
            self = .v4(UInt32(truncatingIfNeeded: low))
        } else {
            self = .v6(high: high, low: low)
        }
    }

    /// The canonical text: `192.0.2.1`, `2001:db8::1` (RFC 5952, as inet_ntop writes it).
    public var description: String {
        var text = [CChar](repeating: 0, count: 64)
        switch self {
        case .v4(let value):
            var address = in_addr(s_addr: value.bigEndian)
            // inet_ntop fails only with a short buffer (ENOSPC): 64 bytes is enough for either family.
            _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
        case .v6(let high, let low):
            var bytes = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 {
                bytes[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
                bytes[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i)))
            }
            _ = inet_ntop(AF_INET6, bytes, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The unit per-client policies (connection caps, throttles) count by: an IPv4 address
    /// itself; an IPv6 address's /64, the smallest allocation a subscriber gets, so that rotating
    /// through the addresses of one's own /64 does not make one a new client.
    public var clientKey: IPAddress {
        switch self {
        case .v4: self
        case .v6(let high, _): .v6(high: high, low: 0)
        }
    }

    /// `clientKey` as text: `192.0.2.1`, or `2001:db8:1:2::/64` for IPv6.
    public var clientKeyText: String {
        switch self {
        case .v4: description
        case .v6: clientKey.description + "/64"
        }
    }
}

/// An address block in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a
/// block of one), as `--trusted-proxy` takes them.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the block (host bits cleared).
    public let address: IPAddress
    public let prefixLength: Int

    public init(address: IPAddress, prefixLength: Int) {
        let bits: Int
        switch address {
        case .v4: bits = 32
        case .v6: bits = 128
        }
        precondition((0...bits).contains(prefixLength), "prefix length \(prefixLength) out of range")
        self.prefixLength = prefixLength
        self.address = Self.masked(address, prefixLength)
    }

    /// Why a text is not a CIDR block; `description` quotes it.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "\(text.debugDescription) is not an address or CIDR block (\(reason))" }
    }

    /// Parses `ADDRESS/LENGTH` or a bare `ADDRESS`. Host bits set below the prefix are refused
    /// (`10.0.0.1/8` is most likely a typo for a host or for `10.0.0.0/8`).
    public static func parse(_ text: some StringProtocol) throws(ParseError) -> IPNetwork {
        let text = String(text)
        let fail = { (reason: String) in ParseError(text: text, reason: reason) }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw fail("not a numeric IPv4 or IPv6 address") }
        let bits: Int
        switch address {
        case .v4: bits = 32
        case .v6: bits = 128
        }
        var length = bits
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ (48...57).contains($0) }), let n = Int(parts[1]), n <= bits else {
                throw fail("the prefix length must be 0...\(bits)")
            }
            length = n
        }
        let network = IPNetwork(address: address, prefixLength: length)
        guard network.address == address else { throw fail("host bits set below /\(length); did you mean \(network)?") }
        return network
    }

    /// Parses a comma-separated list (spaces around items allowed); at least one.
    public static func parseList(_ text: String) throws(ParseError) -> [IPNetwork] {
        var out: [IPNetwork] = []
        for item in text.split(separator: ",") {
            out.append(try parse(item.trimmingBlanks()))
        }
        guard !out.isEmpty else { throw ParseError(text: text, reason: "no address") }
        return out
    }

    /// Whether `candidate` is inside the block (an IPv4 address is never in an IPv6 block).
    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4, .v4), (.v6, .v6): Self.masked(candidate, prefixLength) == address
        default: false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            return .v4(length == 0 ? 0 : value & ~UInt32(0) << UInt32(32 - length))
        case .v6(let high, let low):
            let highMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~UInt64(0) << UInt64(64 - length))
            let lowMask: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << UInt64(128 - length))
            return .v6(high: high & highMask, low: low & lowMask)
        }
    }
}

private extension Substring {
    func trimmingBlanks() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
