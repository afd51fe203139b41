import Foundation

/// Polls `condition` every `poll` until it holds or `timeout` has passed, and says whether it held:
/// what a test uses instead of a fixed sleep that hopes something has happened by then.
///
/// ```swift
/// XCTAssertTrue(waitUntil { server.statistics.protocolErrors > 0 }, "no protocol error counted")
/// ```
@discardableResult
public func waitUntil(timeout: Duration = .seconds(10), poll: Duration = .milliseconds(10),
                      _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: Double(poll.components.seconds) + Double(poll.components.attoseconds) / 1e18)
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` (a refused connect says a server
/// has closed its listener, as one does when it shuts down).
public func isListening(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
