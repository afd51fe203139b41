import Foundation

/// Reads a password without showing it: from the terminal with echo turned off, or from
/// standard input (`--password-stdin`, first line). Never from a flag.
enum PasswordReader {
    static func read(prompt: String, fromStandardInput: Bool) throws -> String {
        let password = fromStandardInput ? try readStandardInput() : try readTerminal(prompt: prompt)
        guard !password.isEmpty else { throw CLIError.usage("empty password") }
        return password
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
