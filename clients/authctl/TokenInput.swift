import ArgumentParser
import Foundation

/// Where a command's token comes from, so that it need not be on the command line (where other
/// local users see it in `ps` and /proc). First match wins:
///
/// 1. the command line: `--token TOKEN` (validate: its TOKEN argument); `-` reads standard input;
/// 2. `--token-file FILE` (`-`: standard input); not together with 1;
/// 3. the environment: `AUTHCTL_TOKEN` (refresh: `AUTHCTL_REFRESH_TOKEN`); empty is unset;
/// 4. the kept credentials (not for validate).
///
/// A token file must hold one token (surrounding white space and the trailing newline are
/// trimmed), at most 64 KiB, and must not be readable by other users: a regular file with any
/// group or other permission bit is refused (`chmod 600`), as authd refuses its secret files.
/// Every refusal is a usage error whose message names the file but never carries its content.
struct TokenInput {
    /// The token given on the command line, or `-`.
    var argument: String?
    /// `--token-file`, or `-`.
    var file: String?
    /// The environment variable read when neither is given.
    var variable: String
    /// How the command-line token is named in messages (`--token`, `TOKEN`).
    var argumentName = "--token"

    static let accessVariable = "AUTHCTL_TOKEN"
    static let refreshVariable = "AUTHCTL_REFRESH_TOKEN"
    /// Largest token file or standard input read.
    static let maxSize = 64 * 1024

    /// Help for `--token`, shared by the commands: `kind` is what the token is for.
    static func argumentHelp(_ kind: String, variable: String = accessVariable) -> ArgumentHelp {
        ArgumentHelp("\(kind) (- reads it from standard input). A token on the command line is visible to other local users (ps, /proc): prefer --token-file, \(variable) or -.",
                     valueName: "token")
    }

    /// Help for `--token-file`.
    static func fileHelp(variable: String = accessVariable) -> ArgumentHelp {
        ArgumentHelp("A file holding the token (one token; - for standard input), not readable by other users (chmod 600). Without --token and --token-file: \(variable), then the kept credentials.",
                     valueName: "file")
    }

    /// The token, or nil when none was given this way (the kept credentials then apply).
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CLIError) -> String? {
        if argument != nil, file != nil { throw .usage("give \(argumentName) or --token-file, not both") }
        if let argument {
            if argument == "-" { return try Self.clean(Self.readStandardInput(), from: "standard input") }
            return argument
        }
        if let file {
            if file == "-" { return try Self.clean(Self.readStandardInput(), from: "standard input") }
            return try Self.clean(Self.read(file: file), from: "--token-file \(file)")
        }
        if let value = environment[variable], !value.isEmpty { return try Self.clean(Data(value.utf8), from: variable) }
        return nil
    }

    /// The token from `data`: one token, white space around it trimmed.
    static func clean(_ data: Data, from source: String) throws(CLIError) -> String {
        guard data.count <= maxSize else { throw .usage("\(source) holds more than \(maxSize / 1024) KiB; give one token") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .usage("\(source) holds no token") }
        guard !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .usage("\(source) must hold one token (it holds white space or several lines)")
        }
        return text
    }

    /// Standard input to its end (at most `maxSize` and a little more, which `clean` refuses); from a
    /// terminal, one line, so a pasted token needs no end-of-file.
    static func readStandardInput() throws(CLIError) -> Data {
        try readAll(fd: STDIN_FILENO, what: "standard input", stopAtNewline: isatty(STDIN_FILENO) == 1)
    }

    /// The file's bytes; refuses one other users may read.
    static func read(file path: String) throws(CLIError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .usage("--token-file: cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        // fstat returns 0 on success, -1 with errno (not expected on an open descriptor).
        guard fstat(fd, &info) == 0 else { throw .usage("--token-file: cannot read \(path): \(String(cString: strerror(errno)))") }
        // Pipes and terminals (/dev/stdin, <(…)) are the caller's own; a regular file lasts and may be shared.
        let mode = info.st_mode & 0o7777
        if info.st_mode & S_IFMT == S_IFREG, mode & 0o077 != 0 {
            throw .usage("--token-file \(path) is readable by other users (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        return try readAll(fd: fd, what: path)
    }

    private static func readAll(fd: Int32, what: String, stopAtNewline: Bool = false) throws(CLIError) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer { for i in buffer.indices { buffer[i] = 0 } }
        while data.count <= maxSize {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .usage("cannot read \(what): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if stopAtNewline, buffer[0..<n].contains(UInt8(ascii: "\n")) { break }  // a terminal reads a line at a time
        }
        return data
    }
}
