import Dispatch
import Foundation
import Logging
import Support

/// One thing a reload re-reads ("tls", "keys"): `run` applies the new state and returns what
/// changed, in words for the log; it throws why it failed and then must have changed nothing.
struct ReloadStep: Sendable {
    var name: String
    var run: @Sendable () throws -> String
}

/// The outcome of the latest reload, as authd writes it beside its pid file (`FILE.reload`, JSON)
/// for `authd reload` to read. `generation` counts the reloads this process has begun; it is
/// written when one begins (`running`) and again when it ends.
struct ReloadStatus: Codable, Equatable {
    enum State: String, Codable { case ready, running, succeeded, failed }
    struct Step: Codable, Equatable {
        var name: String
        var ok: Bool
        /// What changed, or why it failed.
        var message: String
    }

    var pid: Int32
    var generation: Int
    var state: State
    var steps: [Step]

    /// The status file of the pid file `pidFile`.
    static func path(pidFile: String) -> String { pidFile + ".reload" }

    /// Reads a status file; nil when it is missing or not ours.
    static func read(_ path: String) -> ReloadStatus? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ReloadStatus.self, from: data)
    }

    /// Replaces the file at `path` in one step (a reader sees the old or the new one, never half).
    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try (encoder.encode(self) + Data("\n".utf8)).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Runs the reload steps in order, one reload at a time, on a thread of its own (SIGHUP only asks
/// for one). Each step succeeds or fails on its own: a failed step keeps what it had and the
/// others still run; the server keeps serving either way. Logs each outcome and, with a pid file,
/// writes it to the status file `authd reload` waits on.
final class Reloader: Sendable {
    private let steps: [ReloadStep]
    private let statusFile: String?
    private let logger: Logger
    private let queue = DispatchQueue(label: "authd.reload")
    /// Reloads begun; touched on `queue` only (and at start, before any reload can be asked for).
    private let generation = Locked(0)

    init(steps: [ReloadStep], statusFile: String?, logger: Logger) {
        self.steps = steps
        self.statusFile = statusFile
        self.logger = logger
    }

    /// Writes the initial status (no reload yet); call it once the server handles SIGHUP.
    func publishReady() throws {
        try writeStatus(ReloadStatus(pid: getpid(), generation: 0, state: .ready, steps: []))
    }

    /// Asks for a reload and returns at once (what the SIGHUP handler calls).
    func requestReload() {
        queue.async { [self] in _ = reload() }
    }

    /// Runs every step now, on the calling thread; returns the outcome (also logged and written).
    @discardableResult
    func reload() -> ReloadStatus {
        let number = generation.withLock { value in
            value += 1
            return value
        }
        writeStatusLogged(ReloadStatus(pid: getpid(), generation: number, state: .running, steps: []))
        var outcomes: [ReloadStatus.Step] = []
        for step in steps {
            do {
                let change = try step.run()
                logger.notice("reload: \(step.name) reloaded", metadata: [
                    "step": "\(step.name)", "reload": "\(number)", "change": "\(change)"])
                outcomes.append(.init(name: step.name, ok: true, message: change))
            } catch {
                logger.error("reload: \(step.name) failed; keeping the previous \(step.name) and serving on", metadata: [
                    "step": "\(step.name)", "reload": "\(number)", "error": "\(error)"])
                outcomes.append(.init(name: step.name, ok: false, message: "\(error)"))
            }
        }
        let ok = outcomes.allSatisfy(\.ok)
        let status = ReloadStatus(pid: getpid(), generation: number, state: ok ? .succeeded : .failed, steps: outcomes)
        writeStatusLogged(status)
        return status
    }

    /// Removes the status file (at stop), after any reload already asked for has run, so none
    /// writes it again afterwards.
    func removeStatus() {
        queue.sync {
            if let statusFile { try? FileManager.default.removeItem(atPath: statusFile) }
        }
    }

    private func writeStatus(_ status: ReloadStatus) throws {
        guard let statusFile else { return }
        try status.write(to: statusFile)
    }

    private func writeStatusLogged(_ status: ReloadStatus) {
        do { try writeStatus(status) } catch {
            logger.error("reload: cannot write the status file", metadata: ["file": "\(statusFile ?? "")", "error": "\(error)"])
        }
    }
}

/// The pid file of a running authd: its process id and a newline, written once it listens and
/// handles SIGHUP, removed when it stops.
enum PidFile {
    static func write(_ path: String) throws {
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Removes the file if it still names this process (another authd may have taken it over).
    static func remove(_ path: String) {
        if read(path) == getpid() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The process id in the file; nil when it is missing or malformed.
    static func read(_ path: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 64 else { return nil }
        return Int32(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
