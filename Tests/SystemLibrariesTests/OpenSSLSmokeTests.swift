import COpenSSL
import XCTest

/// Proves libcrypto links and computes: HMAC-SHA256 of RFC 4231 test case 2.
final class OpenSSLSmokeTests: XCTestCase {
    func testHMACSHA256RFC4231Case2() {
        let key = Array("Jefe".utf8)
        let data = Array("what do ya want for nothing?".utf8)
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outLength: UInt32 = 0
        // HMAC returns NULL on failure (it cannot fail for valid arguments).
        let result = HMAC(EVP_sha256(), key, Int32(key.count), data, data.count, &out, &outLength)
        XCTAssertNotNil(result)
        XCTAssertEqual(outLength, 32)
        let hex = out.prefix(Int(outLength)).map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testVersionIsThree() {
        let version = String(cString: OpenSSL_version(OPENSSL_VERSION))
        XCTAssertTrue(version.hasPrefix("OpenSSL 3"), version)
    }

    func testMacroShimsWork() {
        guard let ctx = SSL_CTX_new(TLS_method()) else { return XCTFail("SSL_CTX_new failed") }
        defer { SSL_CTX_free(ctx) }
        XCTAssertEqual(COpenSSL_SSL_CTX_set_min_proto_version(ctx, COpenSSL_TLS1_3_VERSION), 1)
        XCTAssertNotEqual(COpenSSL_SSL_CTX_set_mode(ctx, COpenSSL_SSL_MODE_RELEASE_BUFFERS) & COpenSSL_SSL_MODE_RELEASE_BUFFERS, 0)
    }
}
