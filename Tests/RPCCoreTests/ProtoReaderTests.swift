import RPCCore
import XCTest

/// Decoding rules and every way malformed input is refused.
final class ProtoReaderTests: XCTestCase {
    private func decode(_ bytes: [UInt8]) throws -> Probe { try Probe(serializedBytes: bytes) }

    private func assertRefused(_ bytes: [UInt8], _ kind: ProtoDecodingError.Kind, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(bytes), file: file, line: line) { error in
            XCTAssertEqual((error as? ProtoDecodingError)?.kind, kind, "\(error)", file: file, line: line)
        }
    }

    func testLastValueWinsForSingularFields() throws {
        XCTAssertEqual(try decode([0x08, 0x01, 0x08, 0x02]).i32, 2)
        XCTAssertEqual(try decode([0x12, 0x01, 0x61, 0x12, 0x01, 0x62]).text, "b")
    }

    func testRepeatedMessageFieldOccurrencesMerge() throws {
        // inner {a: 1}, then inner {list: ["x"]}, then inner {a: 2}
        let p = try decode([0x22, 0x02, 0x08, 0x01, 0x22, 0x03, 0x12, 0x01, 0x78, 0x22, 0x02, 0x08, 0x02])
        XCTAssertEqual(p.inner, Inner(a: 2, list: ["x"]))
    }

    func testPackedAndUnpackedBothAccepted() throws {
        XCTAssertEqual(try decode([0x1A, 0x03, 0x01, 0x02, 0x03]).packed, [1, 2, 3])
        XCTAssertEqual(try decode([0x18, 0x01, 0x18, 0x02]).packed, [1, 2])
        XCTAssertEqual(try decode([0x18, 0x07, 0x1A, 0x02, 0x08, 0x09, 0x18, 0x0A]).packed, [7, 8, 9, 10])
        XCTAssertEqual(try decode([0x1A, 0x00]).packed, [])
    }

    func testUnknownFieldsOfEveryWireTypeAreSkipped() throws {
        let unknown: [UInt8] = [
            0x50, 0x96, 0x01,  // 10: varint
            0x59, 1, 2, 3, 4, 5, 6, 7, 8,  // 11: fixed64
            0x62, 0x02, 0xFF, 0xFF,  // 12: length-delimited (not UTF-8: never looked at)
            0x6B, 0x08, 0x01, 0x73, 0x08, 0x02, 0x74, 0x6C,  // 13: group holding a varint and group 14
            0x75, 1, 2, 3, 4,  // 14: fixed32
        ]
        XCTAssertEqual(try decode(unknown + [0x08, 0x05]).i32, 5)
    }

    func testExtremeVarints() throws {
        XCTAssertEqual(try decode([0x28] + [UInt8](repeating: 0xFF, count: 9) + [0x01]).u64, .max)
        // int32 fields take the low 32 bits of a 64-bit varint.
        XCTAssertEqual(try decode([0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01]).i32, -1)
        XCTAssertEqual(try decode([0x08, 0x80, 0x80, 0x80, 0x80, 0x10]).i32, 0)
        // Non-minimal varints are valid.
        XCTAssertEqual(try decode([0x08, 0x81, 0x80, 0x00]).i32, 1)
    }

    func testMalformedInputIsRefused() {
        assertRefused([0x08], .truncated)
        assertRefused([0x08, 0x80], .truncated)
        assertRefused([0x08] + [UInt8](repeating: 0x80, count: 10) + [0x01], .malformedVarint)
        assertRefused([0x12, 0x05, 0x61], .lengthPastEnd)
        assertRefused([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], .lengthPastEnd)
        assertRefused([0x3D, 0x00, 0x00], .truncated)
        assertRefused([0x41, 0x00], .truncated)
        assertRefused([0x00, 0x01], .invalidFieldNumber)
        assertRefused([0x07, 0x01], .invalidFieldNumber)
        assertRefused([0x0E, 0x01], .invalidWireType)
        assertRefused([0x0F, 0x01], .invalidWireType)
        assertRefused([0x0C], .invalidWireType)  // end group without start
        assertRefused([0x6B, 0x74], .invalidWireType)  // group 13 closed as 14
        assertRefused([0x6B, 0x08, 0x01], .truncated)  // group never closed
        assertRefused([0x80, 0x80, 0x80, 0x80, 0x80, 0x01], .malformedVarint)  // tag above 32 bits
        assertRefused([0x0D, 0x01, 0x00, 0x00, 0x00], .wrongWireType)  // int32 sent as fixed32
        assertRefused([0x15, 0x01, 0x00, 0x00, 0x00], .wrongWireType)  // string sent as fixed32
        assertRefused([0x1D, 0x01, 0x00, 0x00, 0x00], .wrongWireType)  // repeated int32 sent as fixed32
        assertRefused([0x20, 0x01], .wrongWireType)  // message sent as varint
        assertRefused([0x1A, 0x02, 0x80, 0x80], .truncated)  // packed run ends inside a varint
        assertRefused([0x22, 0x02, 0x08], .lengthPastEnd)
        assertRefused([0x22, 0x01, 0x08], .truncated)  // sub-message ends inside its field
    }

    func testInvalidUTF8IsRefused() {
        for bad: [UInt8] in [[0xC3, 0x28], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0xFF]] {
            assertRefused([0x12, UInt8(bad.count)] + bad, .invalidUTF8)
            assertRefused([0x4A, UInt8(bad.count)] + bad, .invalidUTF8)
        }
        XCTAssertEqual(try decode([0x12, 0x04, 0xF0, 0x9F, 0x9A, 0x80]).text, "🚀")
    }

    func testErrorsCarryFieldAndOffset() {
        XCTAssertThrowsError(try decode([0x08, 0x01, 0x12, 0x05, 0x61])) { error in
            let e = error as? ProtoDecodingError
            XCTAssertEqual(e, ProtoDecodingError(.lengthPastEnd, offset: 3, fieldNumber: 2))
            XCTAssertEqual(e?.description, "length runs past the end (field 2, offset 3)")
        }
    }

    func testDecodingFromRawBufferAndMerging() throws {
        let bytes: [UInt8] = [0xAA, 0x08, 0x07, 0xBB]
        let p = try bytes.withUnsafeBytes { try Probe(serializedBytes: UnsafeRawBufferPointer(rebasing: $0[1..<3])) }
        XCTAssertEqual(p.i32, 7)
        var q = Probe(text: "kept")
        try q.merge(serializedBytes: [0x08, 0x09])
        XCTAssertEqual(q, Probe(i32: 9, text: "kept"))
    }

    func testRPCHelpersMapDecodeErrorsToStatus() {
        let method = MethodDescriptor(service: "t.v1.T", method: "M")
        XCTAssertThrowsError(try Probe(decodingRequest: [0x08], for: method)) { error in
            XCTAssertEqual((error as? RPCError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try Probe(decodingReply: [0x08], for: method)) { error in
            XCTAssertEqual((error as? RPCError)?.code, .internalError)
        }
        XCTAssertEqual(try Probe(decodingRequest: [0x08, 0x01], for: method).i32, 1)
    }

    func testIndirectStorage() {
        struct Holder: Equatable { @ProtoIndirect var value: Int? = nil }
        var a = Holder()
        let b = a
        a.value = 3
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(b.value, nil)
        var c = Holder()
        c.value = 3
        XCTAssertEqual(a, c)
    }
}
