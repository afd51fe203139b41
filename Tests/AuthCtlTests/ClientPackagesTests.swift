import Foundation
import TestSupport
import XCTest

/// The clients as an outside user installs them, calling a real authd: the Python package
/// installed with pip into a fresh virtual environment (blocking and asyncio calls, 1,000 at
/// once), and the Swift example package (clients/swift/Example), which depends on this package by
/// path, built with `swift build --package-path` and run.
final class ClientPackagesTests: XCTestCase {
    private let root = TestEnvironment.packageRoot

    /// `/usr/bin/env -C DIRECTORY COMMAND…`: a command run from another folder.
    private func run(in directory: URL, _ command: [String], environment: [String: String]? = nil,
                     timeout: TimeInterval) throws -> ProcessResult {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["-C", directory.path] + command,
                              environment: environment, timeout: timeout)
    }

    func testPythonPackageInstallsIntoAFreshVenvAndCalls() throws {
        let folder = try TestEnvironment.makeTemporaryDirectory("python-package")
        let venv = folder.appendingPathComponent("venv")
        // No PYTHONPATH: only what pip installed can be imported.
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != "PYTHONPATH" }
        let made = try run(in: folder, ["python3", "-m", "venv", venv.path], environment: environment, timeout: 120)
        XCTAssertEqual(made.status, 0, made.stderr)
        let pip = try run(in: root, [venv.appendingPathComponent("bin/pip").path, "install", "-q", "./clients/python"],
                          environment: environment, timeout: 600)
        XCTAssertEqual(pip.status, 0, pip.stdout + pip.stderr)

        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let started = ContinuousClock.now
        let live = try run(in: folder, [venv.appendingPathComponent("bin/python").path,
                                        root.appendingPathComponent("clients/python/tests/aio_live.py").path,
                                        "\(authd.host):\(authd.port)", authd.caFile],
                           environment: environment, timeout: 180)
        XCTAssertEqual(live.status, 0, live.stdout + live.stderr)
        for line in ["imported from the installed package", "blocking health: SERVING",
                     "1000 concurrent validate calls, all valid", "one connection carried them all",
                     "a passed deadline raises DEADLINE_EXCEEDED", "a cancelled call raises CancelledError",
                     "README's ASGI middleware answers 401", "the middleware passed the valid request on",
                     "all checks passed"] {
            XCTAssertTrue(live.stdout.contains(line), "\(line) missing from: \(live.stdout)")
        }
        print("python package: \(live.stdout.split(separator: "\n").filter { $0.contains("concurrent") }.joined()), "
              + "run in \(ContinuousClock.now - started)")
    }

    /// Builds the example package from scratch (its own .build; minutes on a busy 2-core machine)
    /// and runs it against authd.
    func testSwiftExamplePackageBuildsAndCalls() throws {
        let example = root.appendingPathComponent("clients/swift/Example")
        let started = ContinuousClock.now
        let build = try run(in: root, ["swift", "build", "--package-path", example.path], timeout: 1800)
        XCTAssertEqual(build.status, 0, String(build.stdout.suffix(4000)) + String(build.stderr.suffix(4000)))
        print("clients/swift/Example built in \(ContinuousClock.now - started)")

        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let email = AuthCtlHarness.email("swift-example")
        let result = try ProcessRunner.run(example.appendingPathComponent(".build/debug/auth-example"),
                                           ["\(authd.host):\(authd.port)", authd.caFile, email, "example-\(UUID().uuidString)"],
                                           timeout: 60)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        for line in ["health: SERVING", "registered \(email) as user", "status: user", "validate: valid=true",
                     "validate after logout: valid=false, Token blacklisted. Please log in again."] {
            XCTAssertTrue(result.stdout.contains(line), "\(line) missing from: \(result.stdout)")
        }
    }
}
