@testable import RPCTransport
import XCTest

/// The metrics listener's request-head parser and responses, without sockets.
final class MetricsHTTPRequestTests: XCTestCase {
    private func parse(_ text: String) -> MetricsHTTPRequest.Parse { MetricsHTTPRequest.parse(Array(text.utf8)) }

    func testParsesRequestLinePathAndAccept() {
        XCTAssertEqual(parse("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\naccept:  application/openmetrics-text \r\n\r\n"),
                       .request(MetricsHTTPRequest(method: "GET", path: "/metrics", accept: "application/openmetrics-text")))
        XCTAssertEqual(parse("HEAD /readyz HTTP/1.0\n\n"), .request(MetricsHTTPRequest(method: "HEAD", path: "/readyz")))
    }

    func testIncompleteMalformedAndTooLarge() {
        XCTAssertEqual(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n"), .incomplete)
        XCTAssertEqual(parse("GET /metrics HTTP/2\r\n\r\n"), .malformed)
        XCTAssertEqual(parse("GET metrics HTTP/1.1\r\n\r\n"), .malformed)
        XCTAssertEqual(parse("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"), .malformed)
        XCTAssertEqual(parse("GET /\u{7}x HTTP/1.1\r\n\r\n"), .malformed)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 9_000)), .tooLarge)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 9_000) + "\r\n\r\n"), .tooLarge)
    }

    func testAnswersRoutesMethodsAndEncodes() {
        let handler: MetricsHTTPHandler = { $0.path == "/ok" ? MetricsHTTPResponse(status: 200, body: "fine\n") : nil }
        XCTAssertEqual(MetricsHTTPConnection.answer(MetricsHTTPRequest(method: "GET", path: "/ok"), handler: handler).status, 200)
        XCTAssertEqual(MetricsHTTPConnection.answer(MetricsHTTPRequest(method: "GET", path: "/no"), handler: handler).status, 404)
        XCTAssertEqual(MetricsHTTPConnection.answer(MetricsHTTPRequest(method: "POST", path: "/ok"), handler: handler).status, 405)
        let head = String(decoding: MetricsHTTPResponse(status: 200, body: "fine\n").encoded(headOnly: true), as: UTF8.self)
        XCTAssertEqual(head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
        let refused = String(decoding: MetricsHTTPResponse(status: 405, body: "x").encoded(headOnly: false), as: UTF8.self)
        XCTAssertTrue(refused.contains("\r\nAllow: GET, HEAD\r\n") && refused.hasSuffix("\r\n\r\nx"))
    }
}
