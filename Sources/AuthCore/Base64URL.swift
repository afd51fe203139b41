/// base64url without padding (RFC 4648 §5), as JWS uses it. Decoding is strict: no padding, no
/// whitespace, no character outside the alphabet, and the unused low bits of the last character
/// must be zero, so each byte string has exactly one encoding.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0...63 for alphabet characters, 255 otherwise.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var it = bytes.makeIterator()
        while let a = it.next() {
            let b = it.next(), c = it.next()
            out.append(alphabet[Int(a >> 2)])
            out.append(alphabet[Int((a & 0x03) << 4 | (b ?? 0) >> 4)])
            if let b { out.append(alphabet[Int((b & 0x0f) << 2 | (c ?? 0) >> 6)]) }
            if let c { out.append(alphabet[Int(c & 0x3f)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func encode(_ string: String) -> String { encode(Array(string.utf8)) }

    /// Decodes `input`; nil when it is not canonical base64url.
    static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let capacity = input.count / 4 * 3 + 2
        var ok = true
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buf, initialized in
            if let n = decode(input, into: buf) { initialized = n } else { ok = false; initialized = 0 }
        }
        return ok ? out : nil
    }

    /// Decodes `input` into `output`; returns the number of bytes written, or nil when the input
    /// is not canonical base64url or `output` is too small.
    static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        let n = input.count
        if n % 4 == 1 { return nil }
        let outCount = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1)
        guard outCount <= output.count else { return nil }
        return table.withUnsafeBufferPointer { t -> Int? in
            var i = 0, o = 0
            while i + 4 <= n {
                let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])], d = t[Int(input[i + 3])]
                if (a | b | c | d) & 0xC0 != 0 { return nil }
                output[o] = a << 2 | b >> 4
                output[o + 1] = b << 4 | c >> 2
                output[o + 2] = c << 6 | d
                i += 4; o += 3
            }
            if i < n {
                let a = t[Int(input[i])], b = t[Int(input[i + 1])]
                let c: UInt8 = n - i == 3 ? t[Int(input[i + 2])] : 0
                if (a | b | c) & 0xC0 != 0 { return nil }
                if n - i == 2 {
                    if b & 0x0f != 0 { return nil }
                    output[o] = a << 2 | b >> 4
                } else {
                    if c & 0x03 != 0 { return nil }
                    output[o] = a << 2 | b >> 4
                    output[o + 1] = b << 4 | c >> 2
                }
            }
            return outCount
        }
    }

    static func decode(_ string: String) -> [UInt8]? {
        var s = string
        return s.withUTF8 { decode($0) }
    }
}
