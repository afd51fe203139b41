import RPCCore
import Support

/// A CALL payload's head, checked but not copied: where the method name, the metadata and the
/// message are in the payload. `CallHead.decode` and the server's hot path both read heads through
/// it, so the two agree on every limit and error. Strings are made only when asked for.
struct CallHeadView: Sendable, Equatable {
    /// Offsets of the method name's bytes in the payload.
    var method: Range<Int>
    var timeoutMillis: UInt32
    /// Number of metadata entries, and the offsets of their encoded bytes.
    var metadataCount: Int
    var metadata: Range<Int>
    /// Where the request message starts.
    var messageOffset: Int

    /// Checks the head as `CallHead.decode` does (lengths, limits, UTF-8), with the same errors.
    static func parse(_ payload: UnsafeRawBufferPointer) throws(ProtocolViolation) -> CallHeadView {
        var r = RawByteReader(payload)
        let method = try r.string16(max: WireProtocol.maxMethodNameLength, what: "method name")
        let timeout = try r.u32()
        let count = Int(try r.u16())
        guard count <= WireProtocol.maxMetadataEntries else {
            throw ProtocolViolation(.internalError, "CALL carries \(count) metadata entries, more than \(WireProtocol.maxMetadataEntries)")
        }
        let metadataStart = r.offset
        for _ in 0..<count {
            _ = try r.string16(max: WireProtocol.maxMetadataKeyLength, what: "metadata key")
            _ = try r.string16(max: WireProtocol.maxMetadataValueLength, what: "metadata value")
        }
        return CallHeadView(method: method, timeoutMillis: timeout, metadataCount: count,
                            metadata: metadataStart..<r.offset, messageOffset: r.offset)
    }

    /// The method name (checked UTF-8 by `parse`).
    func methodName(in payload: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: payload[method]), as: UTF8.self)
    }

    /// The metadata entries, keys lower-cased as `Metadata.add` does; empty without allocating.
    func metadata(in payload: UnsafeRawBufferPointer) -> Metadata {
        var result = Metadata()
        guard metadataCount > 0 else { return result }
        var offset = metadata.lowerBound
        func next() -> String {
            let n = Int(payload[offset]) << 8 | Int(payload[offset + 1])
            defer { offset += 2 + n }
            return String(decoding: UnsafeRawBufferPointer(rebasing: payload[offset + 2..<offset + 2 + n]), as: UTF8.self)
        }
        for _ in 0..<metadataCount {
            let key = next()
            result.add(key, next())
        }
        return result
    }

    func head(in payload: UnsafeRawBufferPointer) -> CallHead {
        CallHead(method: methodName(in: payload), timeoutMillis: timeoutMillis, metadata: metadata(in: payload))
    }
}

/// `ByteReader` over borrowed bytes; strings come back as checked ranges, not copies.
struct RawByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func need(_ n: Int) throws(ProtocolViolation) {
        guard bytes.count - offset >= n else { throw ProtocolViolation(.internalError, "payload truncated") }
    }
    mutating func u16() throws(ProtocolViolation) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }
    mutating func u32() throws(ProtocolViolation) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
    /// A u16-length string's byte range, checked for length and UTF-8 (ASCII without building a String).
    mutating func string16(max: Int, what: String) throws(ProtocolViolation) -> Range<Int> {
        let n = Int(try u16())
        guard n <= max else { throw ProtocolViolation(.internalError, "\(what) longer than \(max) bytes") }
        try need(n)
        let range = offset..<offset + n
        offset += n
        let text = UnsafeRawBufferPointer(rebasing: bytes[range])
        if !text.isASCII && String(validating: text, as: UTF8.self) == nil {
            throw ProtocolViolation(.internalError, "\(what) is not UTF-8")
        }
        return range
    }

}
