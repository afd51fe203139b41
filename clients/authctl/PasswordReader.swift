import Foundation

/// Reads a password without showing it: from the terminal with echo turned off, or from
/// standard input (`--password-stdin`, first line). Never from a flag.
enum PasswordReader {
    static func read(prompt: String, fromStandardInput: Bool) throws -> String {
        let password = fromStandardInput ? try readStandardInput() : try readTerminal(prompt: prompt)
        guard !password.isEmpty else { throw CLIError.usage("empty password") }
        return password
    }

    /// The shortest password authd accepts: `PasswordPolicy`'s default minimum (8 characters of
    /// the NFC form), which authd does not let operators change. authctl cannot ask the server
    /// before an account exists, so it checks this copy; the server still checks its own.
    static let minimumLength = 8

    /// A new password (register): read once, refused at once when shorter than `minimumLength`
    /// (before asking again), then asked for again on a terminal and compared.
    static func readNew(fromStandardInput: Bool) throws -> String {
        let password = try read(prompt: "Password: ", fromStandardInput: fromStandardInput)
        guard password.precomposedStringWithCanonicalMapping.count >= minimumLength else {
            throw CLIError.usage("the password is too short: at least \(minimumLength) characters")
        }
        try confirm(password, prompt: "Password (again): ", fromStandardInput: fromStandardInput)
        return password
    }

    /// On a terminal, asks for `password` once more and refuses a different one; standard input
    /// carries a single copy, so there is nothing to compare.
    static func confirm(_ password: String, prompt: String, fromStandardInput: Bool) throws {
        guard !fromStandardInput else { return }
        guard try read(prompt: prompt, fromStandardInput: false) == password else { throw CLIError.usage("the passwords differ") }
    }

    /// A client secret given on standard input (`--client-secret-stdin`): its first line, trimmed;
    /// a usage error when there is none.
    static func readClientSecret() throws -> String {
        guard let line = Swift.readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces), !line.isEmpty else {
            throw CLIError.usage("--client-secret-stdin: no secret on standard input")
        }
        return line
    }

    private static func readStandardInput() throws -> String {
        guard var line = Swift.readLine(strippingNewline: true) else {
            throw CLIError.usage("--password-stdin: no password on standard input")
        }
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }

    private static func readTerminal(prompt: String) throws -> String {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw CLIError.usage("no terminal to read the password from; use --password-stdin")
        }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { throw CLIError.usage("cannot read the terminal's settings; use --password-stdin") }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ECHONL)
        // Echo goes off before the prompt shows, so nothing typed after the prompt is ever echoed.
        // TCSAFLUSH drops anything typed ahead (it would have been echoed already).
        guard tcsetattr(fd, TCSAFLUSH, &quiet) == 0 else { throw CLIError.usage("cannot turn terminal echo off") }
        defer { tcsetattr(fd, TCSAFLUSH, &saved) }
        _ = prompt.withCString { Glibc.write(fd, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 4096 {
            let n = Glibc.read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            bytes.append(byte)
        }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        return String(decoding: bytes, as: UTF8.self)
    }
}
