import CZlib
import XCTest

/// Proves zlib links and round-trips: deflate then inflate 1 MiB of mixed data.
final class ZlibSmokeTests: XCTestCase {
    func testDeflateInflateOneMiB() throws {
        // Mixed data: a compressible text half and a pseudo-random half.
        var input = [UInt8]()
        input.reserveCapacity(1 << 20)
        let text = Array("The quick brown fox jumps over the lazy dog. ".utf8)
        while input.count < (1 << 19) { input.append(contentsOf: text) }
        var x: UInt32 = 2_463_534_242
        while input.count < (1 << 20) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            input.append(UInt8(truncatingIfNeeded: x))
        }
        input.removeLast(input.count - (1 << 20))

        var bound = compressBound(uLong(input.count))
        var compressed = [UInt8](repeating: 0, count: Int(bound))
        // compress2: Z_OK, Z_MEM_ERROR, Z_BUF_ERROR (dest too small), Z_STREAM_ERROR (bad level).
        let c = compress2(&compressed, &bound, input, uLong(input.count), Z_DEFAULT_COMPRESSION)
        XCTAssertEqual(c, Z_OK)
        compressed.removeLast(compressed.count - Int(bound))
        XCTAssertLessThan(compressed.count, input.count)

        // Streaming inflate through the shimmed inflateInit macro.
        var stream = z_stream()
        XCTAssertEqual(CZlib_inflateInit(&stream), Z_OK)
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: input.count)
        let status: Int32 = compressed.withUnsafeMutableBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                stream.next_in = src.baseAddress
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        XCTAssertEqual(status, Z_STREAM_END)
        XCTAssertEqual(Int(stream.total_out), input.count)
        XCTAssertEqual(output, input)
    }
}
