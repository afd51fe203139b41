import Foundation
import Glibc

// A minimal HTTP/1.1 client for the metrics listener and Prometheus's API in tests (loopback only).

/// A port on 127.0.0.1 free a moment ago (bound to 0, read back, closed).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { throw TestSetupError("bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the status, the head and the body.
public func httpGet(port: Int, _ path: String, method: String = "GET", headers: [String] = []) throws -> (status: Int, headers: String, body: String) {
    let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
    let text = try rawExchange(port: port, Array(request.utf8))
    guard let split = text.range(of: "\r\n\r\n") else { throw TestSetupError("no HTTP head in \(text.debugDescription)") }
    let head = String(text[..<split.lowerBound])
    let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, head, String(text[split.upperBound...]))
}

/// Sends `bytes`, reads until the server closes (5 s at most).
public func rawExchange(port: Int, _ bytes: [UInt8]) throws -> String {
    let fd = try connectLoopback(port: port, readTimeout: 5)
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while received.count < 16 << 20 {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        received += buffer[0..<n]
    }
    return String(decoding: received, as: UTF8.self)
}

/// The value of the sample named exactly `series` (name and labels as written) in an exposition.
public func sample(_ body: String, _ series: String) -> Double? {
    for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}
