import Support
import XCTest

final class HostPortTests: XCTestCase {
    func testNamesIPv4AndBracketedIPv6() throws {
        XCTAssertEqual(try HostPort.parse("db1:3306"), HostPort(host: "db1", port: 3306))
        XCTAssertEqual(try HostPort.parse("127.0.0.1:7443"), HostPort(host: "127.0.0.1", port: 7443))
        XCTAssertEqual(try HostPort.parse("[::1]:7443"), HostPort(host: "::1", port: 7443))
        XCTAssertEqual(HostPort(host: "::1", port: 7443).description, "[::1]:7443")
        XCTAssertEqual(HostPort(host: "db1", port: 1).description, "db1:1")
    }

    func testPortZeroOnlyWhenAllowed() throws {
        XCTAssertThrowsError(try HostPort.parse("127.0.0.1:0"))
        XCTAssertEqual(try HostPort.parse("127.0.0.1:0", allowPortZero: true).port, 0)
    }

    func testRefusesWhatIsNotAnAddress() {
        for bad in ["", "nohost", "a:", "a:x", "a:65536", "a:-1", ":7443", "::1:7443", "[::1]", "[::1]7443", "[db]:1", "a: 1"] {
            XCTAssertThrowsError(try HostPort.parse(bad), bad) { error in
                XCTAssertTrue("\(error)".contains(bad.debugDescription), "\(error)")
            }
        }
    }

    func testEmptyHostTakesTheDefaultWhenGiven() throws {
        XCTAssertEqual(try HostPort.parse(":7443", defaultHost: "127.0.0.1"), HostPort(host: "127.0.0.1", port: 7443))
    }

    func testLists() throws {
        XCTAssertEqual(try HostPort.parseList("127.0.0.1:7443, [::1]:7444,db:1"),
                       [HostPort(host: "127.0.0.1", port: 7443), HostPort(host: "::1", port: 7444), HostPort(host: "db", port: 1)])
        XCTAssertThrowsError(try HostPort.parseList(""))
        XCTAssertThrowsError(try HostPort.parseList("a:1,,b"))
    }
}

final class EnvFileTests: XCTestCase {
    func testReadsWhatScriptsMariadbWrites() {
        let text = """
            export AUTH_DB_SOCKET='/work/.data/mariadb.sock'
            export AUTH_DB_PASSWORD='a=b c'
            AUTH_DB_NAME=auth
            # a comment
            not a setting
            """
        XCTAssertEqual(EnvFile.parse(text), ["AUTH_DB_SOCKET": "/work/.data/mariadb.sock", "AUTH_DB_PASSWORD": "a=b c",
                                             "AUTH_DB_NAME": "auth"])
    }
}
