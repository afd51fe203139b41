/// A request to the metrics listener: the method, the path (query string dropped) and the
/// `Accept` header, which is all the metrics and probe endpoints look at.
public struct MetricsHTTPRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    public var accept: String?

    public init(method: String, path: String, accept: String? = nil) {
        self.method = method
        self.path = path
        self.accept = accept
    }

    /// The largest request head read (request line and headers); a longer one gets 431.
    public static let maxHeadBytes = 8 << 10

    /// What the bytes received so far hold.
    enum Parse: Equatable {
        /// The head is not complete yet.
        case incomplete
        /// A complete head.
        case request(MetricsHTTPRequest)
        /// Not HTTP/1.x, or a malformed request line: 400.
        case malformed
        /// No end of head within `maxHeadBytes`: 431.
        case tooLarge
    }

    /// Parses an HTTP/1.0 or 1.1 request head (up to the blank line); a body is never read.
    static func parse(_ bytes: [UInt8]) -> Parse {
        guard let end = headEnd(bytes) else {
            return bytes.count > maxHeadBytes ? .tooLarge : .incomplete
        }
        guard end <= maxHeadBytes else { return .tooLarge }
        guard bytes[..<end].allSatisfy({ $0 == 9 || $0 == 10 || $0 == 13 || (32...126).contains($0) }) else {
            return .malformed
        }
        // Split on the bytes: in a Swift String "\r\n" is one Character.
        var lines = bytes[..<end].split(separator: 10, omittingEmptySubsequences: false).map {
            Substring(String(decoding: $0.last == 13 ? $0.dropLast() : $0, as: UTF8.self))
        }
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, !requestLine[0].isEmpty, requestLine[1].hasPrefix("/"),
              requestLine[2] == "HTTP/1.1" || requestLine[2] == "HTTP/1.0" else { return .malformed }
        var accept: String?
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .malformed }
            if line[..<colon].lowercased() == "accept" {
                accept = line[line.index(after: colon)...].trimmingCharacters()
            }
        }
        let target = requestLine[1]
        let path = target.firstIndex(of: "?").map { target[..<$0] } ?? target
        return .request(MetricsHTTPRequest(method: String(requestLine[0]), path: String(path), accept: accept))
    }

    /// The index just past the first CRLFCRLF (or LFLF), if any.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == 10 && bytes[i + 1] == 10 { return i + 2 }
            if i + 3 < bytes.count && bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                return i + 4
            }
            i += 1
        }
        return nil
    }
}

/// The answer to a `MetricsHTTPRequest`.
public struct MetricsHTTPResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// The response as sent: status line, headers (`Connection: close`), body; no body for HEAD.
    func encoded(headOnly: Bool) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        text += "Content-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n"
        if status == 405 { text += "Allow: GET, HEAD\r\n" }
        text += "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        if !headOnly { text += body }
        return Array(text.utf8)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

/// What the metrics listener serves: given a GET (or HEAD) request, the response, or nil for a
/// path it does not know (404). Runs on an I/O thread: it must not block.
public typealias MetricsHTTPHandler = @Sendable (MetricsHTTPRequest) -> MetricsHTTPResponse?

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
