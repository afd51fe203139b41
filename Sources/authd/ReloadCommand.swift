import ArgumentParser
import Foundation
import Glibc
import AuthCore

extension Authd {
    /// Asks the running authd to reload (SIGHUP) and reports the outcome it wrote.
    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reload the running server's TLS certificate, key and client CA without a restart.",
            discussion: """
                Sends SIGHUP to the authd named by the pid file (as `authd serve` was given it, or the dev default), waits for the reload that follows and prints each step's outcome. A failed reload changes nothing: the server keeps serving with what it had.

                Exit status: 0 when every step reloaded; 1 when one failed (the reason is printed and logged); 69 when no authd is running; 75 when the server did not answer within --timeout; 78 for bad configuration (no pid file).

                Example: authd reload --pid-file /run/authd/authd.pid
                """)

        @Flag(help: "Dev mode: the pid file is DATA_DIR/authd.pid.")
        var dev = false
        @Option(SettingTable.dataDir) var dataDir: String?
        @Option(SettingTable.pidFile) var pidFile: String?
        @Option(SettingTable.reloadTimeout) var timeout: Int?

        func run() throws {
            let env = ProcessInfo.processInfo.environment
            let path: String, wait: Duration
            do {
                wait = try SettingTable.reloadTimeout.resolve(flag: timeout, environment: env)
                guard let given = try SettingTable.pidFile.resolveIfGiven(flag: pidFile, environment: env) ?? devPidFile(env) else {
                    throw ConfigurationError("no pid file: give --pid-file (or AUTHD_PID_FILE), as authd serve was given it, or --dev")
                }
                path = given
            } catch let error as ConfigurationError {
                throw exitForConfiguration(error)
            }
            let statusFile = ReloadStatus.path(pidFile: path)
            guard let pid = PidFile.read(path) else { fail("no authd running: no pid file at \(path)", status: 69) }
            guard let before = ReloadStatus.read(statusFile), before.pid == pid else {
                fail("no reload status from authd \(pid) at \(statusFile) (is it running with this pid file?)", status: 69)
            }
            // kill returns 0, or -1 with ESRCH (no such process) or EPERM (not ours).
            guard kill(pid, SIGHUP) == 0 else {
                fail("cannot signal authd \(pid): \(String(cString: strerror(errno)))", status: 69)
            }
            // Every reload numbered above the one the file named when read began after it was
            // read, so after the operator changed the files; the signal makes sure one begins.
            let deadline = ContinuousClock.now + wait
            while ContinuousClock.now < deadline {
                if let status = ReloadStatus.read(statusFile), status.pid == pid, status.generation > before.generation,
                   status.state == .succeeded || status.state == .failed {
                    for step in status.steps { print("\(step.name): \(step.ok ? "reloaded" : "FAILED"): \(step.message)") }
                    if status.state == .failed {
                        fail("reload failed; authd \(pid) keeps serving with its previous configuration", status: 1)
                    }
                    print("authd \(pid) reloaded")
                    return
                }
                if kill(pid, 0) != 0 && errno == ESRCH { fail("authd \(pid) exited", status: 69) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            fail("authd \(pid) did not report a reload within \(wait)", status: 75)
        }

        private func devPidFile(_ env: [String: String]) -> String? {
            dev ? Settings.dataDirectory(flag: dataDir, env) + "/authd.pid" : nil
        }

        private func fail(_ message: String, status: Int32) -> Never {
            FileHandle.standardError.write(Data("authd reload: \(message)\n".utf8))
            Foundation.exit(status)
        }
    }
}
