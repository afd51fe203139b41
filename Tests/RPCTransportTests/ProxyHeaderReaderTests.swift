@testable import RPCTransport
import Support
import XCTest

/// The PROXY v2 header state machine, without sockets; and the per-address counter.
final class ProxyHeaderReaderTests: XCTestCase {
    /// Feeds `bytes` as a socket would give them when asked for at most `wanted`, `step` at a time.
    private func read(_ bytes: [UInt8], step: Int = .max) -> (ProxyHeaderReader.Step, consumed: Int) {
        var reader = ProxyHeaderReader()
        var offset = 0
        while offset < bytes.count {
            let n = min(reader.wanted, step, bytes.count - offset)
            let result = bytes[offset..<offset + n].withUnsafeBytes { reader.consume($0) }
            offset += n
            if result != .needMore { return (result, offset) }
        }
        return (.needMore, offset)
    }

    func testReadsExactlyTheHeaderAndNothingAfter() {
        let header = ProxyV2.proxy(source: "203.0.113.7", port: 4242, destinationPort: 7443)
        let clientHello: [UInt8] = [0x16, 0x03, 0x01]
        for step in [1, 3, 16, .max] {
            let (result, consumed) = read(header + clientHello, step: step)
            XCTAssertEqual(result, .done(.proxied(source: IPAddress("203.0.113.7")!, port: 4242)), "step \(step)")
            XCTAssertEqual(consumed, header.count, "the TLS bytes stay in the socket")
        }
        XCTAssertEqual(read(ProxyV2.proxy(source: "2001:db8::5", port: 1, destinationPort: 2)).0,
                       .done(.proxied(source: IPAddress("2001:db8::5")!, port: 1)))
        XCTAssertEqual(read(ProxyV2.local).0, .done(.local))
        // LOCAL ignores whatever family and block follow; PROXY over UNSPEC or UNIX keeps the proxy's address.
        XCTAssertEqual(read(ProxyV2.header(command: 0x20, family: 0x11, body: [UInt8](repeating: 0, count: 12))).0, .done(.local))
        XCTAssertEqual(read(ProxyV2.header(command: 0x21, family: 0x00, body: [])).0, .done(.local))
        XCTAssertEqual(read(ProxyV2.header(command: 0x21, family: 0x31, body: [UInt8](repeating: 0, count: 216))).0, .done(.local))
    }

    func testRefusesMalformedHeadersEarly() {
        // TLS or PROXY v1 straight away: refused at the first byte.
        XCTAssertEqual(read([0x16, 0x03, 0x01, 0x02, 0x00], step: 1).consumed, 1)
        XCTAssertEqual(read(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8), step: 1).consumed, 1)
        // A length past 216 is refused when the length arrives, before any of the body is read.
        let long = ProxyV2.header(command: 0x21, family: 0x11, body: [UInt8](repeating: 0, count: 217))
        let (result, consumed) = read(long)
        guard case .invalid = result else { return XCTFail("\(result)") }
        XCTAssertEqual(consumed, 16)
        for (what, header) in [
            ("version 1", ProxyV2.header(command: 0x11, family: 0x11, body: [UInt8](repeating: 0, count: 12))),
            ("command 2", ProxyV2.header(command: 0x22, family: 0x11, body: [UInt8](repeating: 0, count: 12))),
            ("UDP", ProxyV2.header(command: 0x21, family: 0x12, body: [UInt8](repeating: 0, count: 12))),
            ("family 4", ProxyV2.header(command: 0x21, family: 0x41, body: [UInt8](repeating: 0, count: 12))),
            ("short IPv4 block", ProxyV2.header(command: 0x21, family: 0x11, body: [UInt8](repeating: 0, count: 11))),
            ("short IPv6 block", ProxyV2.header(command: 0x21, family: 0x21, body: [UInt8](repeating: 0, count: 35))),
        ] {
            guard case .invalid = read(header).0 else { return XCTFail(what) }
        }
    }

    func testAddressLimiterCountsPerClientAndPacesItsReports() {
        let limiter = AddressLimiter(limit: 2, reportInterval: .seconds(10))
        let a = IPAddress("2001:db8:1:2::1")!.clientKey, b = IPAddress("2001:db8:1:2::2")!.clientKey
        let c = IPAddress("192.0.2.1")!.clientKey
        let t0 = ContinuousClock.now
        XCTAssertEqual(limiter.admit(a, now: t0), .admitted)
        XCTAssertEqual(limiter.admit(b, now: t0), .admitted, "the same /64")
        XCTAssertEqual(limiter.admit(a, now: t0), .refused(report: 1))
        XCTAssertEqual(limiter.admit(b, now: t0 + .seconds(1)), .refused(report: nil), "one line per interval")
        XCTAssertEqual(limiter.admit(b, now: t0 + .seconds(2)), .refused(report: nil))
        XCTAssertEqual(limiter.admit(b, now: t0 + .seconds(11)), .refused(report: 3), "the refusals since the last line")
        XCTAssertEqual(limiter.admit(c, now: t0), .admitted, "another client")
        limiter.release(a)
        XCTAssertEqual(limiter.admit(b, now: t0), .admitted, "a freed slot")
        limiter.release(a)
        limiter.release(a)
        limiter.release(c)
        XCTAssertEqual(limiter.openConnections(a), 0)
        XCTAssertEqual(limiter.openConnections(c), 0)
    }
}
