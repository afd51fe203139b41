import Logging
import RPCDispatch
import Support
import XCTest

/// Worker threads carry names (visible in /proc, top -H, gdb), cut to Linux's 15 bytes.
final class ThreadNameTests: XCTestCase {
    func testWorkerThreadsAreNamed() {
        var logger = Logger(label: "dispatch-test")
        logger.logLevel = .critical
        let dispatcher = Dispatcher(services: [], workerThreads: 3, logger: logger)
        defer { dispatcher.shutdown() }
        let expected = Set((0..<3).map { "rpc-worker-\($0)" })
        XCTAssertTrue(eventually { expected.isSubset(of: processThreadNames()) }, "\(processThreadNames())")
    }

    func testLongNamesAreCutToFifteenBytes() {
        XCTAssertEqual(OSThread.truncated("a-very-long-thread-name"), "a-very-long-thr")
        XCTAssertEqual(OSThread.truncated("rpc-io-0"), "rpc-io-0")
        XCTAssertEqual(OSThread.truncated("ééééééééé"), "ééééééé", "cut at a character boundary")
        let done = DispatchSemaphore(value: 0)
        let seen = Locked("")
        let thread = OSThread(name: "a-very-long-thread-name") {
            seen.withLock { $0 = currentThreadName() }
            done.signal()
        }
        done.wait()
        thread.join()
        XCTAssertEqual(seen.withLock { $0 }, "a-very-long-thr")
    }
}
