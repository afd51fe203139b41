import AuthAPI
import AuthClient
import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport
import XCTest

/// The compression bomb against a real authd with its default limits: 8 unauthenticated TLS
/// connections each send 100 Register CALLs whose message is a 4 MiB body sent as ~4 KiB of zlib,
/// while a legitimate client validates a token on its own connection. authd's peak RSS growth must
/// stay under 256 MiB, the legitimate Validate under 1 s, and no bomb may create an account.
final class CompressionBombTests: XCTestCase {
    func testRegisterBombNeitherSwellsTheServerNorSlowsValidate() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        let auth = Auth.Client(transport: connection)
        let tokens = try auth.register(RegisterRequest(email: uniqueEmail("bomb-victim"), password: "pw-\(UUID().uuidString)"))
        XCTAssertTrue(try auth.validate(ValidateRequest(token: tokens.token)).valid)

        // 4 MiB of message: an email and a password of 'a's, deflated once (~4 KiB) and sent 800 times.
        let body = RegisterRequest(email: "bomb@example.com", password: String(repeating: "a", count: (4 << 20) - 64)).serializedBytes()
        let bomb = MessageCompression.deflate(body)
        XCTAssertLessThan(bomb.count, 8 << 10)

        let pid = authd.pid
        Self.resetPeakRSS(pid: pid)
        let rssBefore = Self.memoryKiB(pid: pid, "VmRSS")

        // The legitimate client validates in a loop while the attack runs.
        let validations = Shared<(count: Int, invalid: Int, failures: Int, max: Duration)>((0, 0, 0, .zero))
        let running = Shared(true)
        let validator = DispatchGroup()
        validator.enter()
        Thread.detachNewThread {
            defer { validator.leave() }
            let end = ContinuousClock.now + .seconds(60)
            while running.withLock({ $0 }) && ContinuousClock.now < end {
                let t0 = ContinuousClock.now
                let valid = (try? auth.validate(ValidateRequest(token: tokens.token), options: CallOptions(timeout: .seconds(10))))?.valid
                let elapsed = ContinuousClock.now - t0
                validations.withLock { v in
                    v.count += 1
                    if valid == nil { v.failures += 1 } else if valid == false { v.invalid += 1 }
                    v.max = Swift.max(v.max, elapsed)
                }
                usleep(2_000)
            }
        }
        Thread.sleep(forTimeInterval: 0.2)

        let statuses = Shared<[StatusCode: Int]>([:])
        let attackers = DispatchGroup()
        let attackStart = ContinuousClock.now
        for _ in 0..<8 {
            attackers.enter()
            Thread.detachNewThread {
                defer { attackers.leave() }
                do {
                    let counts = try Self.attack(port: authd.port, caFile: authd.caFile, message: bomb, calls: 100)
                    statuses.withLock { s in s.merge(counts) { $0 + $1 } }
                } catch {
                    statuses.withLock { $0[.unknown, default: 0] += 1 }
                }
            }
        }
        XCTAssertEqual(attackers.wait(timeout: .now() + 60), .success, "the attack did not finish in time")
        let attackTime = ContinuousClock.now - attackStart
        Thread.sleep(forTimeInterval: 0.3)
        running.withLock { $0 = false }
        XCTAssertEqual(validator.wait(timeout: .now() + 15), .success)

        let peak = Self.memoryKiB(pid: pid, "VmHWM")
        let growthMiB = Double(peak - rssBefore) / 1024
        let v = validations.withLock { $0 }
        let answered = statuses.withLock { $0 }
        print("compression bomb: authd RSS \(rssBefore / 1024) MiB before, peak \(peak / 1024) MiB, growth "
              + "\(String(format: "%.1f", growthMiB)) MiB; attack took \(attackTime); legitimate Validate: \(v.count) calls, "
              + "max latency \(v.max), \(v.failures) failures; bomb replies \(answered.map { "\($0.key.name)=\($0.value)" }.sorted())")
        XCTAssertLessThan(growthMiB, 256, "authd's peak RSS grew by \(growthMiB) MiB")
        XCTAssertLessThan(v.max, .seconds(1), "a legitimate Validate took \(v.max) during the attack")
        XCTAssertEqual(v.failures, 0)
        XCTAssertEqual(v.invalid, 0)
        XCTAssertGreaterThan(v.count, 10)
        XCTAssertEqual(answered[.ok] ?? 0, 0, "a bomb created an account")
        XCTAssertEqual(answered.values.reduce(0, +), 800, "every bomb call gets an answer: \(answered)")
        XCTAssertEqual(answered[.resourceExhausted] ?? 0, 800, "\(answered)")
        XCTAssertTrue(try auth.validate(ValidateRequest(token: tokens.token)).valid)
    }

    /// One attacking connection: TLS, preface, SETTINGS, `calls` compressed Register CALLs in one go,
    /// then the replies (up to 30 s), counted by status.
    static func attack(port: Int, caFile: String, message: [UInt8], calls: Int) throws -> [StatusCode: Int] {
        let context = try TLSContext(configuration: .client(trustRootsFile: caFile), isServer: false)
        let fd = try connectLoopback(port: port, readTimeout: 0.1, writeTimeout: 10)
        let tls = try TLSConnection(context: context, fd: fd, serverName: "127.0.0.1")
        for _ in 0..<50 where try tls.handshake() != .done(0) {}
        guard try tls.handshake() == .done(0) else { throw TestSetupError("handshake did not complete") }

        var out = WireProtocol.preface
        FrameEncoder.append(Frame(type: .settings, payload: ConnectionSettings().encode()), to: &out)
        for i in 0..<calls {
            FrameEncoder.appendCall(callID: UInt32(2 * i + 1), head: CallHead(method: Auth.Method.register.fullName),
                                    message: message, flags: .compressed, to: &out)
        }
        var offset = 0
        while offset < out.count {
            let r = try out.withUnsafeBytes { try tls.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n) = r else { throw TestSetupError("write: \(r)") }
            offset += n
        }

        var counts: [StatusCode: Int] = [:]
        var decoder = FrameDecoder(maxFrameSize: 1 << 24, expectsPreface: false)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + .seconds(30)
        var replies = 0
        reading: while replies < calls && ContinuousClock.now < deadline {
            let r = try? buffer.withUnsafeMutableBytes { try tls.read(into: $0) }
            switch r {
            case .done(let n)?:
                decoder.append(Array(buffer[0..<n]))
                while let frame = try decoder.next() {
                    guard frame.type == .reply else { continue }
                    counts[try ReplyHead.decode(frame.payload).0.status, default: 0] += 1
                    replies += 1
                }
            case .closed?, nil:
                break reading
            default:
                continue
            }
        }
        tls.shutdown()
        return counts
    }

    /// Resets the process's peak RSS (VmHWM) to its current RSS (`clear_refs` 5); best effort.
    static func resetPeakRSS(pid: Int32) {
        try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
    static func memoryKiB(pid: Int32, _ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
}

/// A value behind a lock, for the test's threads.
private final class Shared<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
