import Foundation
import Glibc

/// A TCP socket connected to 127.0.0.1:`port`, for tests that speak raw bytes or raw TLS to a
/// server. `readTimeout`/`writeTimeout` (seconds) become SO_RCVTIMEO/SO_SNDTIMEO;
/// `receiveBufferSize` is set before connecting (a small one makes a slow reader). Throws
/// `TestSetupError` when the connection is refused; the caller closes the descriptor.
public func connectLoopback(port: Int, readTimeout: TimeInterval? = 5, writeTimeout: TimeInterval? = nil,
                            receiveBufferSize: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket failed: errno \(errno)") }
    if var size = receiveBufferSize {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
        let error = errno
        close(fd)
        throw TestSetupError("connect to 127.0.0.1:\(port) failed: errno \(error)")
    }
    for (option, seconds) in [(SO_RCVTIMEO, readTimeout), (SO_SNDTIMEO, writeTimeout)] {
        guard let seconds else { continue }
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    return fd
}
