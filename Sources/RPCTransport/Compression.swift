import CZlib
import RPCCore

/// zlib (RFC 1950) compression of messages, with a bound on what inflating may produce.
public enum MessageCompression {
    /// Compresses `bytes` at the default level.
    public static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var outLength = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(outLength))
        // compress2 returns Z_OK, or Z_MEM_ERROR / Z_BUF_ERROR (not with compressBound) / Z_STREAM_ERROR (bad level).
        let rc = compress2(&out, &outLength, bytes, uLong(bytes.count), Z_DEFAULT_COMPRESSION)
        precondition(rc == Z_OK, "compress2 failed with \(rc)")
        // A compact copy: trimming `out` in place would keep its compressBound-sized capacity
        // (as large as the input) alive for as long as the compressed message lives.
        return Array(out[..<Int(outLength)])
    }

    /// Inflates `bytes`; throws RESOURCE_EXHAUSTED past `limit` output bytes and INTERNAL on corrupt input.
    public static func inflate(_ bytes: [UInt8], limit: Int) throws(RPCError) -> [UInt8] {
        var stream = z_stream()
        // inflateInit returns Z_OK, Z_MEM_ERROR, or Z_VERSION_ERROR (a broken install).
        guard CZlib_inflateInit(&stream) == Z_OK else { throw RPCError(.internalError, "zlib inflateInit failed") }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        let chunk = 16 * 1024
        var rc: Int32 = Z_OK
        var failure: RPCError?
        bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            var buffer = [UInt8](repeating: 0, count: chunk)
            repeat {
                let produced: Int = buffer.withUnsafeMutableBufferPointer { b in
                    stream.next_out = b.baseAddress
                    stream.avail_out = uInt(chunk)
                    // inflate returns Z_OK / Z_STREAM_END on progress, Z_BUF_ERROR when it cannot progress,
                    // Z_DATA_ERROR / Z_NEED_DICT on corrupt input, Z_MEM_ERROR.
                    rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                if rc != Z_OK && rc != Z_STREAM_END {
                    let detail = stream.msg.map { String(cString: $0) } ?? "code \(rc)"
                    failure = RPCError(.internalError, "message decompression failed: \(detail)")
                    return
                }
                if out.count + produced > limit {
                    failure = RPCError(.resourceExhausted, "decompressed message exceeds the limit of \(limit) bytes")
                    return
                }
                out.append(contentsOf: buffer[0..<produced])
                if rc == Z_OK && produced == 0 && stream.avail_in == 0 {
                    failure = RPCError(.internalError, "message decompression failed: truncated input")
                    return
                }
            } while rc != Z_STREAM_END
        }
        if let failure { throw failure }
        return out
    }
}
