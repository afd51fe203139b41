import CMariaDB
import TestSupport
import XCTest

/// Proves Connector/C links and talks to the private server: connect, `SELECT VERSION()`.
final class MariaDBSmokeTests: XCTestCase {
    func testSelectVersion() throws {
        let settings = try TestEnvironment.database()
        guard let mysql = mysql_init(nil) else { return XCTFail("mysql_init failed (out of memory)") }
        defer { mysql_close(mysql) }
        _ = CMariaDB_set_uint_option(mysql, MYSQL_OPT_CONNECT_TIMEOUT, 5)
        // mysql_real_connect returns NULL on failure; mysql_error says why.
        let connected = mysql_real_connect(mysql, settings.socket == nil ? settings.host ?? "127.0.0.1" : nil,
                                           settings.user, settings.password, settings.database,
                                           UInt32(settings.port ?? 0), settings.socket, 0)
        guard connected != nil else {
            return XCTFail("connect failed: \(String(cString: mysql_error(mysql)))")
        }
        XCTAssertEqual(mysql_query(mysql, "SELECT VERSION()"), 0, String(cString: mysql_error(mysql)))
        guard let result = mysql_store_result(mysql) else { return XCTFail("no result set") }
        defer { mysql_free_result(result) }
        guard let row = mysql_fetch_row(result), let cell = row[0] else { return XCTFail("no row") }
        let version = String(cString: cell)
        XCTAssertTrue(version.contains("MariaDB"), version)
    }
}
