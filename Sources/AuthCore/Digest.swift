import COpenSSL

enum Digest {
    /// SHA-256 of `bytes`.
    static func sha256<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        let input = Array(bytes)
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // EVP_Digest: 1 on success, 0 on an internal failure (not something input can cause).
        let rc = input.withUnsafeBufferPointer { i in EVP_Digest(i.baseAddress, i.count, &out, &length, EVP_sha256(), nil) }
        precondition(rc == 1 && length == 32, "SHA-256 failed inside OpenSSL")
        return out
    }

    /// Whether two digests are equal, in time that depends on their length only.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        // CRYPTO_memcmp: 0 when equal, in time independent of the contents.
        return a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
