@testable import AuthCore
import XCTest

/// The digest helpers reset codes, refresh tokens and service secrets share.
final class DigestTests: XCTestCase {
    func testEqualComparesLengthAndEveryByte() {
        let a = Digest.sha256("code".utf8)
        XCTAssertTrue(Digest.equal(a, Digest.sha256("code".utf8)))
        var last = a
        last[31] ^= 1
        XCTAssertFalse(Digest.equal(a, last), "a difference in the last byte")
        XCTAssertFalse(Digest.equal(a, Array(a.prefix(16))), "a prefix is not equal")
        XCTAssertFalse(Digest.equal(a, []))
        XCTAssertTrue(Digest.equal([], []))
    }
}
