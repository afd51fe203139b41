import Glibc

/// One plain-HTTP/1.1 connection to the metrics listener, owned by an event loop: reads one
/// request head (at most `MetricsHTTPRequest.maxHeadBytes`, within `timeout` of the accept),
/// answers it and closes. GET and HEAD only (405 otherwise); paths the handler does not know
/// get 404.
final class MetricsHTTPConnection {
    let id: UInt64
    let fd: Int32
    let acceptedAt: ContinuousClock.Instant
    private let handler: MetricsHTTPHandler
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var written = 0
    /// The response is queued: nothing more is read.
    private var responding = false

    /// How long a client has to send its request and take the response.
    static let timeout: Duration = .seconds(5)

    init(id: UInt64, fd: Int32, acceptedAt: ContinuousClock.Instant, handler: @escaping MetricsHTTPHandler) {
        self.id = id
        self.fd = fd
        self.acceptedAt = acceptedAt
        self.handler = handler
    }

    /// What the loop does next with the connection.
    enum Next {
        case keepReading
        case waitWritable
        case close
    }

    /// The socket is readable (or writable while a response is pending).
    func handle(buffer: UnsafeMutableRawBufferPointer) -> Next {
        if responding { return writePending() }
        while true {
            // read returns the count, 0 at the peer's close, or -1 with errno (EAGAIN, ECONNRESET, EINTR).
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n == 0 { return .close }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                return e == EAGAIN || e == EWOULDBLOCK ? .keepReading : .close
            }
            input += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            switch MetricsHTTPRequest.parse(input) {
            case .incomplete: continue
            case .malformed: return respond(MetricsHTTPResponse(status: 400, body: "bad request\n"), headOnly: false)
            case .tooLarge: return respond(MetricsHTTPResponse(status: 431, body: "request head too large\n"), headOnly: false)
            case .request(let request):
                return respond(Self.answer(request, handler: handler), headOnly: request.method == "HEAD")
            }
        }
    }

    /// The response to a complete request.
    static func answer(_ request: MetricsHTTPRequest, handler: MetricsHTTPHandler) -> MetricsHTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return MetricsHTTPResponse(status: 405, body: "method not allowed\n")
        }
        return handler(request) ?? MetricsHTTPResponse(status: 404, body: "not found\n")
    }

    /// The request took longer than `timeout`: answer 408 if nothing was asked yet, best effort.
    func timedOut() {
        guard !responding else { return }
        _ = respond(MetricsHTTPResponse(status: 408, body: "request timeout\n"), headOnly: false)
    }

    private func respond(_ response: MetricsHTTPResponse, headOnly: Bool) -> Next {
        responding = true
        input = []
        output = response.encoded(headOnly: headOnly)
        return writePending()
    }

    private func writePending() -> Next {
        while written < output.count {
            // send returns the count or -1 with errno (EAGAIN when the buffer is full, EPIPE, ECONNRESET).
            let n = output.withUnsafeBytes { send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                return e == EAGAIN || e == EWOULDBLOCK ? .waitWritable : .close
            }
            written += n
        }
        shutdown(fd, Int32(SHUT_WR))
        return .close
    }
}
