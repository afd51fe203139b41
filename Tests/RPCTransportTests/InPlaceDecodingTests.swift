import RPCCore
import Support
@testable import RPCTransport
import XCTest

/// `FrameDecoder.consume` (frames handed out in place) and `CallHeadView`:
/// the server's copy-free path must give exactly what `append` + `next` and `CallHead.decode` give.
final class InPlaceDecodingTests: XCTestCase {
    /// Preface, SETTINGS, two CALLs (one with metadata), PING, CANCEL, an empty-payload CALL head
    /// of a larger message, in one byte string.
    private func sampleStream() -> [UInt8] {
        var bytes = WireProtocol.preface
        FrameEncoder.append(Frame(type: .settings, payload: ConnectionSettings().encode()), to: &bytes)
        var metadata = Metadata()
        metadata.add("authorization", "Bearer abc")
        FrameEncoder.appendCall(callID: 1, head: CallHead(method: "auth.v1.Auth/Validate", timeoutMillis: 250, metadata: metadata),
                                message: [1, 2, 3], flags: [], to: &bytes)
        FrameEncoder.appendCall(callID: 2, head: CallHead(method: "auth.v1.Auth/Validate"),
                                message: Array(repeating: 7, count: 300), flags: [], to: &bytes)
        FrameEncoder.append(Frame(type: .ping, payload: [0, 1, 2, 3, 4, 5, 6, 7]), to: &bytes)
        FrameEncoder.append(Frame(type: .cancel, callID: 1), to: &bytes)
        return bytes
    }

    private func framesByNext(_ bytes: [UInt8]) throws -> [Frame] {
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        decoder.append(bytes)
        var frames: [Frame] = []
        while let f = try decoder.next() { frames.append(f) }
        return frames
    }

    private func consume(_ decoder: inout FrameDecoder, _ bytes: ArraySlice<UInt8>, into frames: inout [Frame]) throws {
        try bytes.withUnsafeBytes { raw in
            try decoder.consume(raw) { frames.append($0.frame); return true }
        }
    }

    func testWholeStreamInOneRead() throws {
        let bytes = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        try consume(&decoder, bytes[...], into: &got)
        XCTAssertEqual(got, try framesByNext(bytes))
        XCTAssertEqual(got.count, 5)
        XCTAssertEqual(decoder.bufferedCount, 0)
    }

    func testEverySplitPoint() throws {
        let bytes = sampleStream()
        let expected = try framesByNext(bytes)
        for split in 0...bytes.count {
            var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
            var got: [Frame] = []
            try consume(&decoder, bytes[..<split], into: &got)
            try consume(&decoder, bytes[split...], into: &got)
            XCTAssertEqual(got, expected, "split at \(split)")
            XCTAssertEqual(decoder.bufferedCount, 0)
        }
    }

    func testEveryPairOfSplitPoints() throws {
        let bytes = sampleStream()
        let expected = try framesByNext(bytes)
        for a in stride(from: 0, through: bytes.count, by: 3) {
            for b in stride(from: a, through: bytes.count, by: 7) {
                var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
                var got: [Frame] = []
                try consume(&decoder, bytes[..<a], into: &got)
                try consume(&decoder, bytes[a..<b], into: &got)
                try consume(&decoder, bytes[b...], into: &got)
                XCTAssertEqual(got, expected, "splits at \(a), \(b)")
            }
        }
    }

    func testOneByteAtATime() throws {
        let bytes = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        for i in bytes.indices { try consume(&decoder, bytes[i...i], into: &got) }
        XCTAssertEqual(got, try framesByNext(bytes))
    }

    func testPartialTailIsTheOnlyThingBuffered() throws {
        let bytes = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        try consume(&decoder, bytes[..<(bytes.count - 4)], into: &got)
        XCTAssertEqual(got.count, 4, "every whole frame handed out")
        XCTAssertEqual(decoder.bufferedCount, 6, "the CANCEL's first 6 header bytes kept")
        try consume(&decoder, bytes[(bytes.count - 4)...], into: &got)
        XCTAssertEqual(got, try framesByNext(bytes))
    }

    func testStoppingKeepsTheRestForLater() throws {
        let bytes = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        try bytes.withUnsafeBytes { raw in
            try decoder.consume(raw) { got.append($0.frame); return got.count != 2 }
        }
        XCTAssertEqual(got.count, 2)
        // Resuming with no new bytes hands out the rest, one stop at a time.
        try decoder.consume(UnsafeRawBufferPointer(start: nil, count: 0)) { got.append($0.frame); return got.count != 3 }
        XCTAssertEqual(got.count, 3)
        try consume(&decoder, [], into: &got)
        XCTAssertEqual(got, try framesByNext(bytes))
        XCTAssertEqual(decoder.bufferedCount, 0)
    }

    func testNextAfterConsumeSharesState() throws {
        let bytes = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        try consume(&decoder, bytes[..<40], into: &got)
        decoder.append(Array(bytes[40...]))
        while let f = try decoder.next() { got.append(f) }
        XCTAssertEqual(got, try framesByNext(bytes))
    }

    func testOversizedFrameRefusedFromItsHeader() {
        // Split anywhere inside the header: refused once the header is whole, with no payload sent.
        for split in 0..<WireProtocol.headerSize {
            var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: false)
            let header: [UInt8] = [0, 0, 4, 1, FrameType.call.rawValue, 0, 0, 0, 0, 1]
            var got: [Frame] = []
            XCTAssertNoThrow(try consume(&decoder, header[..<split], into: &got))
            XCTAssertThrowsError(try consume(&decoder, header[split...], into: &got), "split at \(split)") { error in
                XCTAssertEqual(error as? ProtocolViolation,
                               ProtocolViolation(.resourceExhausted, "frame of 1025 bytes exceeds the limit of 1024"))
            }
        }
    }

    func testUnknownFrameTypeAfterAGoodFrame() throws {
        var bytes: [UInt8] = []
        FrameEncoder.append(Frame(type: .ping, payload: [1, 2, 3, 4, 5, 6, 7, 8]), to: &bytes)
        bytes += [0, 0, 0, 0, 0x42, 0, 0, 0, 0, 0]
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: false)
        var got: [Frame] = []
        XCTAssertThrowsError(try consume(&decoder, bytes[...], into: &got)) { error in
            XCTAssertEqual(error as? ProtocolViolation, ProtocolViolation(.internalError, "unknown frame type 66"))
        }
        XCTAssertEqual(got.count, 1, "the frame before the bad one is handed out first, as next() does")
    }

    func testBadPrefaceRefusedEarly() {
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        XCTAssertNoThrow(try consume(&decoder, Array("AR".utf8)[...], into: &got))
        XCTAssertThrowsError(try consume(&decoder, Array("X".utf8)[...], into: &got)) { error in
            XCTAssertEqual(error as? ProtocolViolation, ProtocolViolation(.internalError, "bad connection preface"))
        }
        var whole = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        XCTAssertThrowsError(try consume(&whole, Array("ARPC\r\n\u{02}\u{00}".utf8)[...], into: &got))
        XCTAssertTrue(got.isEmpty)
    }

    func testIdleDecoderKeepsNoStorage() throws {
        let bytes = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        try consume(&decoder, bytes[..<50], into: &got)
        try consume(&decoder, bytes[50...], into: &got)
        XCTAssertEqual(decoder.bufferedCount, 0)
        XCTAssertEqual(got.count, 5)
    }

    // MARK: CallHeadView

    func testCallHeadViewMatchesDecode() throws {
        var metadata = Metadata()
        metadata.add("Authorization", "Bearer x")
        metadata.add("x-trace", "é")
        metadata.add("x-trace", "two")
        let head = CallHead(method: "auth.v1.Auth/Validate", timeoutMillis: 1234, metadata: metadata)
        var w = ByteWriter()
        head.encode(into: &w)
        let payload = w.bytes + [9, 9]
        try payload.withUnsafeBytes { raw in
            let view = try CallHeadView.parse(raw)
            XCTAssertEqual(view.head(in: raw), head)
            XCTAssertEqual(view.methodName(in: raw), "auth.v1.Auth/Validate")
            XCTAssertEqual(view.messageOffset, w.bytes.count)
            XCTAssertEqual(Array(raw[view.messageOffset...]), [9, 9])
        }
        let (decoded, offset) = try CallHead.decode(payload)
        XCTAssertEqual(decoded, head)
        XCTAssertEqual(offset, w.bytes.count)
    }

    func testCallHeadViewErrors() {
        func error(_ bytes: [UInt8]) -> ProtocolViolation? {
            bytes.withUnsafeBytes { raw -> ProtocolViolation? in
                do throws(ProtocolViolation) { _ = try CallHeadView.parse(raw); return nil } catch { return error }
            }
        }
        var w = ByteWriter()
        CallHead(method: "a/b", timeoutMillis: 1).encode(into: &w)
        XCTAssertEqual(error(Array(w.bytes.prefix(5))), ProtocolViolation(.internalError, "payload truncated"))
        var long = ByteWriter()
        long.string16(String(repeating: "m", count: 513))
        XCTAssertEqual(error(long.bytes), ProtocolViolation(.internalError, "method name longer than 512 bytes"))
        var many = ByteWriter()
        many.string16("a/b"); many.u32(0); many.u16(65)
        XCTAssertEqual(error(many.bytes),
                       ProtocolViolation(.internalError, "CALL carries 65 metadata entries, more than 64"))
        let badUTF8: [UInt8] = [0, 2, 0xC3, 0x28, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(error(badUTF8), ProtocolViolation(.internalError, "method name is not UTF-8"))
        var badValue = ByteWriter()
        badValue.string16("a/b"); badValue.u32(0); badValue.u16(1); badValue.string16("k")
        badValue.u16(9); badValue.bytes += [0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xFF]
        XCTAssertEqual(error(badValue.bytes), ProtocolViolation(.internalError, "metadata value is not UTF-8"))
    }

    func testASCIICheck() {
        for n in 0..<20 {
            let ascii = [UInt8](repeating: 0x61, count: n)
            XCTAssertTrue(ascii.withUnsafeBytes { $0.isASCII })
            for i in 0..<n {
                var high = ascii
                high[i] = 0xC3
                XCTAssertFalse(high.withUnsafeBytes { $0.isASCII }, "n \(n) at \(i)")
            }
        }
    }

    // MARK: State machine on views

    func testStateMachineOnViewsCompletesOutOfOrder() throws {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = m.received(Frame(type: .settings, payload: ConnectionSettings().encode()))
        var ids: [UInt32] = []
        for id: UInt32 in 1...4 {
            var out: [UInt8] = []
            FrameEncoder.appendCall(callID: id, head: CallHead(method: "a/b"), message: [UInt8(id)], flags: [], to: &out)
            let payload = Array(out[WireProtocol.headerSize...])
            try payload.withUnsafeBytes { raw in
                guard case .startCall(let callID, let head, false) = m.received(FrameView(type: .call, callID: id, payload: raw)) else {
                    return XCTFail("call \(id) not started")
                }
                XCTAssertEqual(head.methodName(in: raw), "a/b")
                XCTAssertEqual(Array(raw[head.messageOffset...]), [UInt8(id)])
                ids.append(callID)
            }
        }
        XCTAssertEqual(ids, [1, 2, 3, 4])
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 2)), .none)
        XCTAssertTrue(m.isCancelled(2))
        XCTAssertFalse(m.isCancelled(3))
        XCTAssertEqual(m.callCompleted(1), .init(sendReply: true, closeAfterFlush: false))
        XCTAssertEqual(m.callCompleted(2), .init(sendReply: false, closeAfterFlush: false))
        XCTAssertEqual(m.callCompleted(2), .init(sendReply: false, closeAfterFlush: false), "a second completion is ignored")
        XCTAssertFalse(m.isCancelled(3))
        XCTAssertEqual(m.callsInFlight, 2)
        _ = m.goAway(message: "bye")
        XCTAssertEqual(m.callCompleted(4), .init(sendReply: true, closeAfterFlush: false))
        XCTAssertEqual(m.callCompleted(3), .init(sendReply: true, closeAfterFlush: true))
    }
}
