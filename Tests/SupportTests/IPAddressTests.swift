import Support
import XCTest

final class IPAddressTests: XCTestCase {
    func testParsesNumericAddressesOnly() {
        XCTAssertEqual(IPAddress("192.0.2.1"), .v4(0xC000_0201))
        XCTAssertEqual(IPAddress("2001:db8::1"), .v6(high: 0x2001_0DB8_0000_0000, low: 1))
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1"), .v4(0xC000_0201), "IPv4-mapped is the IPv4 client")
        for bad in ["", "localhost", "192.0.2", "192.0.2.256", "[::1]", "::1%eth0", "1.2.3.4 ", "1.2.3.4\0junk", "2001:db8::1::2"] {
            XCTAssertNil(IPAddress(bad), bad.debugDescription)
        }
    }

    func testCanonicalTextAndClientKey() {
        XCTAssertEqual(IPAddress("2001:0DB8:0:0:0:0:0:1")?.description, "2001:db8::1")
        XCTAssertEqual(IPAddress("10.1.2.3")?.clientKeyText, "10.1.2.3")
        XCTAssertEqual(IPAddress("2001:db8:1:2:aaaa::1")?.clientKeyText, "2001:db8:1:2::/64")
        XCTAssertEqual(IPAddress("2001:db8:1:2:aaaa::1")?.clientKey, IPAddress("2001:db8:1:2::ffff")?.clientKey)
        XCTAssertNotEqual(IPAddress("2001:db8:1:2::1")?.clientKey, IPAddress("2001:db8:1:3::1")?.clientKey)
    }

    func testNetworksContainTheirAddressesOnly() throws {
        let net8 = try IPNetwork.parse("10.0.0.0/8")
        XCTAssertTrue(net8.contains(IPAddress("10.255.0.1")!))
        XCTAssertFalse(net8.contains(IPAddress("11.0.0.1")!))
        XCTAssertFalse(net8.contains(IPAddress("::a00:1")!), "an IPv4 block holds no IPv6 address")
        let host = try IPNetwork.parse("192.0.2.7")
        XCTAssertEqual(host.prefixLength, 32)
        XCTAssertTrue(host.contains(IPAddress("192.0.2.7")!))
        XCTAssertFalse(host.contains(IPAddress("192.0.2.8")!))
        let v6 = try IPNetwork.parse("2001:db8:80::/41")
        XCTAssertTrue(v6.contains(IPAddress("2001:db8:ff::1")!))
        XCTAssertFalse(v6.contains(IPAddress("2001:db8:100::1")!))
        XCTAssertTrue(try IPNetwork.parse("0.0.0.0/0").contains(IPAddress("203.0.113.9")!))
        XCTAssertTrue(try IPNetwork.parse("::/0").contains(IPAddress("2001:db8::9")!))
        XCTAssertEqual(try IPNetwork.parse("2001:db8::1/128").description, "2001:db8::1/128")
        XCTAssertEqual(try IPNetwork.parseList(" 10.0.0.0/8, ::1 ,192.168.0.0/16").map(\.description),
                       ["10.0.0.0/8", "::1/128", "192.168.0.0/16"])
    }

    func testRefusesWhatIsNotABlock() {
        for bad in ["", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.1/8", "host/8", "10.0.0.0/ 8"] {
            XCTAssertThrowsError(try IPNetwork.parse(bad), bad.debugDescription)
        }
        XCTAssertThrowsError(try IPNetwork.parse("10.0.0.1/8")) { error in
            XCTAssertTrue("\(error)".contains("did you mean 10.0.0.0/8"), "\(error)")
        }
        XCTAssertThrowsError(try IPNetwork.parseList(" , "))
    }
}
