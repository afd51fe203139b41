import RPCCore
@testable import RPCTransport
import XCTest

/// The frame decoder, encoder and payload codecs, without sockets.
final class FrameCodecTests: XCTestCase {
    private func sampleStream() -> (bytes: [UInt8], frames: [Frame]) {
        var bytes = WireProtocol.preface
        var frames: [Frame] = []
        let settings = Frame(type: .settings, payload: ConnectionSettings().encode())
        frames.append(settings)
        FrameEncoder.append(settings, to: &bytes)
        var metadata = Metadata()
        metadata.add("authorization", "Bearer abc")
        FrameEncoder.appendCall(callID: 1, head: CallHead(method: "auth.v1.Auth/Validate", timeoutMillis: 250, metadata: metadata),
                                message: [1, 2, 3], flags: [], to: &bytes)
        var head = ByteWriter()
        CallHead(method: "auth.v1.Auth/Validate", timeoutMillis: 250, metadata: metadata).encode(into: &head)
        frames.append(Frame(type: .call, callID: 1, payload: head.bytes + [1, 2, 3]))
        let ping = Frame(type: .ping, payload: [0, 1, 2, 3, 4, 5, 6, 7])
        FrameEncoder.append(ping, to: &bytes)
        frames.append(ping)
        let empty = Frame(type: .cancel, callID: 1)
        FrameEncoder.append(empty, to: &bytes)
        frames.append(empty)
        return (bytes, frames)
    }

    func testWholeStream() throws {
        let (bytes, frames) = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        decoder.append(bytes)
        var got: [Frame] = []
        while let f = try decoder.next() { got.append(f) }
        XCTAssertEqual(got, frames)
        XCTAssertEqual(decoder.bufferedCount, 0)
    }

    func testOneByteAtATime() throws {
        let (bytes, frames) = sampleStream()
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var got: [Frame] = []
        for byte in bytes {
            decoder.append([byte])
            while let f = try decoder.next() { got.append(f) }
        }
        XCTAssertEqual(got, frames)
    }

    func testEverySplitPoint() throws {
        let (bytes, frames) = sampleStream()
        for split in 0...bytes.count {
            var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
            var got: [Frame] = []
            decoder.append(Array(bytes[..<split]))
            while let f = try decoder.next() { got.append(f) }
            decoder.append(Array(bytes[split...]))
            while let f = try decoder.next() { got.append(f) }
            XCTAssertEqual(got, frames, "split at \(split)")
        }
    }

    func testTruncatedFrameWaits() throws {
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: false)
        decoder.append([0, 0, 0, 5, FrameType.ping.rawValue, 0, 0, 0, 0, 0, 1, 2])
        XCTAssertNil(try decoder.next())
        XCTAssertEqual(decoder.bufferedCount, 12)
    }

    func testBadPrefaceRefusedEarly() {
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        decoder.append(Array("AR".utf8))
        XCTAssertNil(try decoder.next())
        decoder.append(Array("X".utf8))
        XCTAssertThrowsError(try decoder.next())
    }

    func testOversizedFrameRefusedFromHeader() {
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: false)
        decoder.append([0, 0, 4, 1, FrameType.call.rawValue, 0, 0, 0, 0, 1])
        XCTAssertThrowsError(try decoder.next()) { error in
            XCTAssertEqual((error as? ProtocolViolation)?.code, .resourceExhausted)
        }
    }

    func testUnknownFrameType() {
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: false)
        decoder.append([0, 0, 0, 0, 0x42, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try decoder.next())
    }

    func testCallHeadRoundTripAndLimits() throws {
        var metadata = Metadata()
        metadata.add("authorization", "Bearer x")
        metadata.add("x-trace", "é")
        let head = CallHead(method: "auth.v1.Auth/Login", timeoutMillis: 1234, metadata: metadata)
        var w = ByteWriter()
        head.encode(into: &w)
        let (decoded, offset) = try CallHead.decode(w.bytes + [9, 9])
        XCTAssertEqual(decoded, head)
        XCTAssertEqual(offset, w.bytes.count)
        XCTAssertThrowsError(try CallHead.decode(Array(w.bytes.prefix(5))))
        var tooMany = ByteWriter()
        tooMany.string16("m")
        tooMany.u32(0)
        tooMany.u16(65)
        XCTAssertThrowsError(try CallHead.decode(tooMany.bytes))
        var badUTF8 = ByteWriter()
        badUTF8.u16(2)
        badUTF8.bytes += [0xC3, 0x28]
        XCTAssertThrowsError(try CallHead.decode(badUTF8.bytes + [0, 0, 0, 0, 0, 0]))
    }

    func testSettingsGoAwayErrorRoundTrip() throws {
        let s = ConnectionSettings(maxFrameSize: 1000, maxDecompressedSize: 2000, maxCallsInFlight: 3, compression: 1)
        XCTAssertEqual(try ConnectionSettings.decode(s.encode()), s)
        XCTAssertEqual(try ConnectionSettings.decode(s.encode() + [0, 99, 0, 0, 0, 1]), s, "unknown ids are ignored")
        XCTAssertThrowsError(try ConnectionSettings.decode([0, 1, 0]))
        let g = GoAway(lastCallID: 7, status: .unavailable, message: "bye")
        XCTAssertEqual(try GoAway.decode(g.encode()), g)
        let e = ErrorPayload(status: .internalError, message: "bad")
        XCTAssertEqual(try ErrorPayload.decode(e.encode()), e)
    }

    /// The worked example of schema/PROTOCOL.md, byte for byte.
    func testProtocolDocumentExample() throws {
        var call: [UInt8] = []
        FrameEncoder.appendCall(callID: 1, head: CallHead(method: "rpctest.v1.Echo/Echo", timeoutMillis: 1000,
                                                          metadata: ["authorization": "Bearer t0k"]),
                                message: Array("hi".utf8), flags: [], to: &call)
        XCTAssertEqual(hex(call), "00000039" + "01" + "00" + "00000001"
                       + "0014" + "727063746573742e76312e4563686f2f4563686f" + "000003e8"
                       + "0001" + "000d" + "617574686f72697a6174696f6e" + "000a" + "4265617265722074306b"
                       + "6869")
        var reply: [UInt8] = []
        FrameEncoder.appendReply(callID: 1, status: .ok, message: Array("hi".utf8), to: &reply)
        XCTAssertEqual(hex(reply), "00000005020000000001000000" + "6869")
        var failed: [UInt8] = []
        FrameEncoder.appendReply(callID: 1, status: .notFound, statusMessage: "no", to: &failed)
        XCTAssertEqual(hex(failed), "00000005020000000001" + "0500026e6f")
        var settings: [UInt8] = []
        FrameEncoder.append(Frame(type: .settings, payload: ConnectionSettings().encode()), to: &settings)
        XCTAssertEqual(hex(settings), "00000018000000000000" + "000100400000" + "000200400000" + "000300000000" + "000400000001")
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
