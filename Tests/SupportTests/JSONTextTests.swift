import Support
import XCTest

final class JSONTextTests: XCTestCase {
    func testEscapesQuotesBackslashesAndControlCharacters() {
        XCTAssertEqual(JSONText.quoted("plain"), "\"plain\"")
        XCTAssertEqual(JSONText.quoted("a\"b\\c"), "\"a\\\"b\\\\c\"")
        XCTAssertEqual(JSONText.quoted("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"")
        XCTAssertEqual(JSONText.quoted("\u{01}\u{1f}"), "\"\\u0001\\u001f\"")
        XCTAssertEqual(JSONText.quoted("é✓"), "\"é✓\"")
    }
}
