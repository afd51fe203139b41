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
    guard let fd = try? connectLoopback(port: port, readTimeout: nil) else { return false }
    close(fd)
    return true
}
