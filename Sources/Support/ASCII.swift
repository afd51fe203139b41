extension UnsafeRawBufferPointer {
    /// Whether every byte is below 0x80 (so the bytes are valid UTF-8 without further checking),
    /// eight bytes at a time. Used where the server reads names and tokens in place.
    @inlinable
    public var isASCII: Bool {
        var i = 0
        let n = count
        while i + 8 <= n {
            if loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            i += 8
        }
        while i < n {
            if self[i] & 0x80 != 0 { return false }
            i += 1
        }
        return true
    }
}
