import COpenSSL

/// Random bytes from OpenSSL's CSPRNG (seeded from the kernel).
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        // RAND_bytes: 1 on success, 0 or -1 when the generator is not seeded or unsupported —
        // a broken machine, not an input we can cause; continuing would issue guessable ids.
        let rc = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(rc == 1, "RAND_bytes failed: the system CSPRNG is unavailable")
        return out
    }
}

/// A 128-bit random identifier (JWT `jti`, refresh-token family, login attempt), hashable cheaply.
public struct TokenID: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// 128 bits from the CSPRNG.
    public static func random() -> TokenID { TokenID(bytes: SecureRandom.bytes(16))! }

    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        high = h
        low = l
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            let shift = UInt64(56 - 8 * i)
            out[i] = UInt8(truncatingIfNeeded: high >> shift)
            out[i + 8] = UInt8(truncatingIfNeeded: low >> shift)
        }
        return out
    }

    /// base64url, 22 characters (as written in the `jti` claim).
    public var description: String { Base64URL.encode(bytes) }
}
