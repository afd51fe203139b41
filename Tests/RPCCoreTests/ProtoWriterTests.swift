import RPCCore
import XCTest

/// Encodings from the protobuf encoding reference (protobuf.dev/programming-guides/encoding).
final class ProtoWriterTests: XCTestCase {
    private func bytes(_ build: (inout ProtoWriter) -> Void) -> [UInt8] {
        var w = ProtoWriter()
        build(&w)
        return w.bytes
    }

    func testReferenceVectors() {
        XCTAssertEqual(Probe(i32: 150).serializedBytes(), [0x08, 0x96, 0x01])
        XCTAssertEqual(Probe(text: "testing").serializedBytes(), [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6E, 0x67])
        XCTAssertEqual(bytes { $0.writeRepeatedInt32([3, 270, 86942], field: 4) }, [0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05])
    }

    func testNegativeInt32IsSignExtendedToTenBytes() {
        XCTAssertEqual(Probe(i32: -1).serializedBytes(), [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        XCTAssertEqual(bytes { $0.writeInt64(-2, field: 1) }, [0x08, 0xFE] + [UInt8](repeating: 0xFF, count: 8) + [0x01])
    }

    func testZigZag() {
        let table: [(Int32, UInt64)] = [(0, 0), (-1, 1), (1, 2), (-2, 3), (.max, 0xFFFF_FFFE), (.min, 0xFFFF_FFFF)]
        for (value, zigzag) in table {
            var expected = ProtoWriter()
            expected.appendTag(1, .varint)
            expected.appendVarint(zigzag)
            XCTAssertEqual(bytes { $0.writeSInt32(value, field: 1) }, value == 0 ? [] : expected.bytes, "\(value)")
        }
        XCTAssertEqual(bytes { $0.writeSInt64(.min, field: 1) }, [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    func testFixedWidthIsLittleEndian() {
        XCTAssertEqual(bytes { $0.writeFloat(1, field: 1) }, [0x0D, 0x00, 0x00, 0x80, 0x3F])
        XCTAssertEqual(bytes { $0.writeDouble(1, field: 1) }, [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        XCTAssertEqual(bytes { $0.writeFixed32(0x0102_0304, field: 1) }, [0x0D, 0x04, 0x03, 0x02, 0x01])
        XCTAssertEqual(bytes { $0.writeSFixed64(-1, field: 1) }, [0x09] + [UInt8](repeating: 0xFF, count: 8))
    }

    func testDefaultsAreOmittedButNegativeZeroIsNot() {
        XCTAssertEqual(Probe().serializedBytes(), [])
        XCTAssertEqual(bytes { $0.writeFloat(-0.0, field: 1) }, [0x0D, 0x00, 0x00, 0x00, 0x80])
        XCTAssertEqual(bytes { $0.writeRepeatedInt32([], field: 1) }, [])
        // A set message is written even when empty; repeated strings keep their empty elements.
        XCTAssertEqual(Probe(inner: Inner()).serializedBytes(), [0x22, 0x00])
        XCTAssertEqual(Probe(names: ["", "a"]).serializedBytes(), [0x4A, 0x00, 0x4A, 0x01, 0x61])
    }

    func testUnpackedRepeated() {
        XCTAssertEqual(bytes { $0.writeRepeatedInt32([1, 2], field: 1, packed: false) }, [0x08, 0x01, 0x08, 0x02])
        XCTAssertEqual(bytes { $0.writeRepeatedFixed32([1], field: 1, packed: false) }, [0x0D, 1, 0, 0, 0])
        XCTAssertEqual(bytes { $0.writeRepeatedDouble([1], field: 1) }, [0x0A, 0x08, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    }

    /// A sub-message longer than 127 bytes needs a two-byte length: the body is moved once.
    func testLongSubMessageLength() throws {
        let probe = Probe(inner: Inner(a: 1, list: [String(repeating: "x", count: 200)]), u64: 5)
        let encoded = probe.serializedBytes()
        XCTAssertEqual(Array(encoded[0..<3]), [0x22, 0xCD, 0x01])  // 205 = 2 (a) + 1 (tag) + 2 (length) + 200
        XCTAssertEqual(try Probe(serializedBytes: encoded), probe)
    }

    func testVarintSize() {
        for (value, size) in [(UInt64(0), 1), (127, 1), (128, 2), (16383, 2), (16384, 3), (UInt64.max, 10)] {
            XCTAssertEqual(ProtoWriter.varintSize(value), size, "\(value)")
        }
    }
}
