import RPCCore
import XCTest

final class MetadataTests: XCTestCase {
    private func metadata(_ key: String, _ value: String) -> Metadata {
        var m = Metadata()
        m.add(key, value)
        return m
    }

    func testBearerTokenIsFoundWhateverTheSchemesCaseAndKeepsTheTokensOwn() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            XCTAssertEqual(metadata("Authorization", "\(scheme) AbC.dEf.GhI").bearerToken, "AbC.dEf.GhI", scheme)
        }
        XCTAssertEqual(metadata("authorization", "Bearer   tok  ").bearerToken, "tok", "surrounding spaces trimmed")
    }

    func testNoBearerTokenWithoutTheScheme() {
        XCTAssertNil(Metadata().bearerToken)
        XCTAssertNil(metadata("authorization", "Basic dXNlcjpwdw==").bearerToken)
        XCTAssertNil(metadata("authorization", "Bearer ").bearerToken, "no token after the scheme")
        XCTAssertNil(metadata("authorization", "Bearertok").bearerToken, "the scheme ends with a space")
        XCTAssertNil(metadata("authorization", "tok").bearerToken)
        XCTAssertNil(metadata("x-authorization", "Bearer tok").bearerToken)
    }
}
