import Foundation
import TestSupport
import XCTest

/// What a person at a terminal sees: the password is never echoed, and expired tokens are explained.
final class TerminalTests: XCTestCase {
    /// Drives authctl on a pseudo-terminal (Python's pty): waits for each password prompt before
    /// typing, then prints everything the terminal showed.
    static let ptyScript = """
        import os, pty, select, sys, time
        binary, password, prompts = sys.argv[1], sys.argv[2], sys.argv[3].split("|")
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(binary, [binary] + sys.argv[4:])
        out = b""
        deadline = time.time() + 20
        def read_until(marker):
            global out
            while (marker is None or marker not in out) and time.time() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        return
                    if not chunk:
                        return
                    out += chunk
        for prompt in prompts:
            read_until(prompt.encode())
            if prompt.encode() not in out:
                sys.stdout.write("NO PROMPT: " + out.decode(errors="replace")); sys.exit(99)
            out_len = len(out)
            os.write(fd, password.encode() + b"\\n")
        read_until(None)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(out.decode(errors="replace"))
        sys.exit(os.WEXITSTATUS(status))
        """

    private func python() -> URL {
        (try? TestEnvironment.python()) ?? URL(fileURLWithPath: "/usr/bin/python3")
    }

    func testPasswordIsNotEchoedOnATerminal() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let email = AuthCtlHarness.email("tty")
        let password = "terminal-Secret-\(UInt32.random(in: 0...UInt32.max))"

        let register = try ProcessRunner.run(python(), ["-c", Self.ptyScript, AuthCtlHarness.binary.path, password,
                                                        "Password: |Password (again): ", "register", "--email", email],
                                             environment: ctl.environment)
        XCTAssertEqual(register.status, 0, register.stdout + register.stderr)
        XCTAssertTrue(register.stdout.contains("Password: "), register.stdout)
        XCTAssertTrue(register.stdout.contains("Registered as \(email)"), register.stdout)
        XCTAssertFalse(register.stdout.contains(password), "the password was echoed: \(register.stdout)")

        let login = try ProcessRunner.run(python(), ["-c", Self.ptyScript, AuthCtlHarness.binary.path, password,
                                                     "Password: ", "login", "--email", email],
                                          environment: ctl.environment)
        XCTAssertEqual(login.status, 0, login.stdout + login.stderr)
        XCTAssertTrue(login.stdout.contains("Logged in as \(email)"), login.stdout)
        XCTAssertFalse(login.stdout.contains(password), "the password was echoed: \(login.stdout)")

        // The stdin path prints nothing of the password either.
        let stdin = try ctl.run(["login", "--email", email, "--password-stdin"], input: password + "\n")
        XCTAssertEqual(stdin.status, 0, stdin.stderr)
        XCTAssertFalse((stdin.stdout + stdin.stderr).contains(password))
    }

    /// `validate -` (and `--token-file -`) on a terminal takes the one line typed: no end-of-file needed.
    func testTokenTypedOnATerminalNeedsOneLine() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        XCTAssertEqual(try ctl.register(AuthCtlHarness.email("tty-token")).status, 0)
        let token = try ctl.keptToken()
        for arguments in [["validate", "-"], ["status", "--token-file", "-"]] {
            let started = ContinuousClock.now
            // The empty prompt: the token is typed at once, followed by a newline and nothing else.
            let result = try ProcessRunner.run(python(), ["-c", Self.ptyScript, AuthCtlHarness.binary.path, token, ""] + arguments,
                                               environment: ctl.environment)
            let shown = (result.stdout + result.stderr).replacingOccurrences(of: token, with: "<token>")
            XCTAssertEqual(result.status, 0, "\(arguments): \(shown)")
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "\(arguments) waited for end-of-file")
        }
    }

    func testExpiredTokenIsRefusedWithTheServersMessage() throws {
        let authd = try AuthdProcess.start(arguments: ["--access-ttl", "1", "--leeway", "0"])
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let email = AuthCtlHarness.email("expiry")
        XCTAssertEqual(try ctl.register(email).status, 0)
        let token = try ctl.keptToken()
        Thread.sleep(forTimeInterval: 2.2)

        let text = try ctl.run(["status"])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stderr.contains("UNAUTHENTICATED: Signature expired. Please log in again."), text.stderr)
        let json = try ctl.json(["validate", token], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(json).code, "UNAUTHENTICATED")
        XCTAssertEqual(AuthCtlHarness.error(json).message, "Signature expired. Please log in again.")
        // The refresh token outlives the access token.
        let refreshed = try ctl.json(["refresh"])
        XCTAssertNotNil(refreshed["token"] as? String)
    }
}
