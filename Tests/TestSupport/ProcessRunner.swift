import Foundation

/// Runs a program to completion and collects its output (for tests that drive the built
/// executables, the Python checks and `openssl`).
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum ProcessRunner {
    /// Runs `executable` with `arguments`, feeding `input` on standard input.
    /// `timeout` bounds the run; a program still running then is killed and the call throws.
    @discardableResult
    public static func run(_ executable: URL, _ arguments: [String], input: Data? = nil,
                           environment: [String: String]? = nil, timeout: TimeInterval = 60) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try? inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so a full pipe never blocks the child.
        let box = OutputBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { box.setOut(outPipe.fileHandleForReading.readDataToEndOfFile()); group.leave() }
        group.enter()
        DispatchQueue.global().async { box.setErr(errPipe.fileHandleForReading.readDataToEndOfFile()); group.leave() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
            throw TestSetupError("\(executable.lastPathComponent) did not finish within \(Int(timeout)) s")
        }
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: box.out, as: UTF8.self),
                             stderr: String(decoding: box.err, as: UTF8.self))
    }

    /// Runs a program found on PATH (`/usr/bin/env NAME …`).
    @discardableResult
    public static func run(_ name: String, _ arguments: [String], input: Data? = nil,
                           timeout: TimeInterval = 60) throws -> ProcessResult {
        try run(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, input: input, timeout: timeout)
    }
}

private final class OutputBox: @unchecked Sendable {
    // Safe: each field is written by one thread and read only after DispatchGroup.wait.
    var out = Data()
    var err = Data()
    func setOut(_ d: Data) { out = d }
    func setErr(_ d: Data) { err = d }
}
