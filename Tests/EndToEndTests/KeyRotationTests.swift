import AuthAPI
import AuthClient
import Foundation
import RPCCore
import RPCTransport
import TestSupport
import XCTest

/// Key rotation with two authd instances on one database, driven by `authd keys` as an operator
/// would: generate, wait the publish lead, tokens switch kid on both, old tokens stay valid on
/// both, retire, the old key leaves the JWK Set once its tokens have expired. Meanwhile a thread
/// validates every live token on both instances: not one validation may fail.
final class KeyRotationTests: XCTestCase {
    static let lead = 2.0, ttl = 6.0

    func testRotationAcrossTwoInstances() throws {
        let kek = try KeySetTestFiles.encryptionKeyFile()
        let arguments = ["--key-encryption-key-file", kek, "--jwt-alg", "EdDSA", "--key-publish-lead", "\(Int(Self.lead))",
                         "--access-ttl", "\(Int(Self.ttl))", "--leeway", "0", "--revocation-poll-ms", "200"]
        let a = try AuthdProcess.start(arguments: arguments)
        defer { a.stop() }
        let b = try AuthdProcess.start(arguments: arguments, databaseName: a.databaseName, secret: a.secret)
        b.keepDatabase = true
        defer { b.stop(dropDatabase: false) }
        let connections = [try a.connect(), try b.connect()]
        defer { connections.forEach { $0.close() } }
        let clients = connections.map { Auth.Client(transport: $0) }
        let start = Date()
        var timeline: [String] = []
        func mark(_ event: String) { timeline.append(String(format: "%6.2f s  %@", Date().timeIntervalSince(start), event)) }

        let email = "rotation-\(UUID().uuidString.prefix(8))@example.com", password = "pw-\(UUID().uuidString)"
        let first = try clients[0].register(RegisterRequest(email: email, password: password))
        let oldKid = try kid(of: first.token)
        XCTAssertEqual(try kid(of: try clients[1].login(LoginRequest(email: email, password: password)).token), oldKid)

        // Every token minted during the test, validated on both instances until shortly before it expires.
        let live = Guarded<[(token: String, until: Date)]>([(first.token, Date().addingTimeInterval(Self.ttl - 1))])
        let failures = Guarded<[String]>([]), validations = Guarded(0)
        let stop = Guarded(false)
        let validator = Thread {
            let deadline = Date().addingTimeInterval(60)
            while !stop.withLock { $0 }, Date() < deadline {
                let now = Date()
                for entry in live.withLock({ $0 }) where entry.until > now {
                    for (i, client) in clients.enumerated() {
                        do {
                            let reply = try client.validate(ValidateRequest(token: entry.token))
                            if !reply.valid, entry.until > Date() { failures.withLock { $0.append("instance \(i): \(reply.message)") } }
                        } catch {
                            failures.withLock { $0.append("instance \(i): \(error)") }
                        }
                        validations.withLock { $0 += 1 }
                    }
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        validator.start()
        defer { stop.withLock { $0 = true } }
        func mint(_ i: Int) throws -> String {
            let token = try clients[i].login(LoginRequest(email: email, password: password)).token
            live.withLock { $0.append((token, Date().addingTimeInterval(Self.ttl - 1))) }
            return token
        }

        // Generate: published on both at once, signing on both after the lead.
        let generated = try a.runSubcommand(["keys", "generate", "--key-encryption-key-file", kek,
                                             "--key-publish-lead", "\(Int(Self.lead))"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        mark("authd keys generate: \(generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        let newKid = try XCTUnwrap(generated.stdout.split(separator: " ").dropFirst().first.map(String.init))
        XCTAssertNotEqual(newKid, oldKid)
        XCTAssertTrue(waitUntil(timeout: .seconds(5), poll: .milliseconds(50)) {
            clients.allSatisfy { (try? $0.keys(KeysRequest()).jwksJson.contains(newKid)) ?? false }
        }, "the new key is published on both instances")
        mark("new key in the JWK Set of both instances")
        XCTAssertEqual(try kid(of: try mint(1)), oldKid, "not signing before its lead")
        for i in 0..<2 {
            XCTAssertTrue(waitUntil(timeout: .seconds(Int64(Self.lead) + 5), poll: .milliseconds(50)) {
                ((try? self.kid(of: try mint(i))) ?? "") == newKid
            }, "instance \(i) signs with the new key")
            mark("first token with the new kid from instance \(i)")
        }
        for client in clients { XCTAssertTrue(try client.validate(ValidateRequest(token: first.token)).valid, "old token still valid") }

        // Retire the old key: it stops signing, stays published until its tokens have expired.
        let retired = try a.runSubcommand(["keys", "retire", oldKid, "--access-ttl", "\(Int(Self.ttl))", "--leeway", "0"])
        XCTAssertEqual(retired.status, 0, retired.stderr)
        mark("authd keys retire \(oldKid)")
        let retiredAt = Date()
        XCTAssertTrue(clients.allSatisfy { (try? $0.keys(KeysRequest()).jwksJson.contains(oldKid)) ?? false })
        XCTAssertEqual(try kid(of: try mint(0)), newKid)
        XCTAssertTrue(waitUntil(timeout: .seconds(Int64(Self.ttl) + 5), poll: .milliseconds(100)) {
            _ = try? mint(1)
            return clients.allSatisfy { (try? $0.keys(KeysRequest()).jwksJson.contains(oldKid)) == false }
        }, "the old key leaves the set on both instances")
        mark("old key gone from the JWK Set of both instances")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(retiredAt), Self.ttl - 0.5, "not before its tokens expired")
        let list = try a.runSubcommand(["keys", "list", "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertFalse(list.stdout.contains(oldKid), list.stdout)
        XCTAssertTrue(list.stdout.contains("\"kid\":\"\(newKid)\",\"alg\":\"EdDSA\",\"state\":\"signing\""), list.stdout)

        stop.withLock { $0 = true }
        while !validator.isFinished { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(failures.withLock { $0 }, [], "validations failed during the rotation")
        XCTAssertGreaterThan(validations.withLock { $0 }, 50)
        print("rotation timeline (\(validations.withLock { $0 }) validations, none failed):\n" + timeline.joined(separator: "\n"))
    }

    func kid(of token: String) throws -> String {
        let part = String(token.split(separator: ".")[0])
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        let header = try JSONSerialization.jsonObject(with: try XCTUnwrap(Data(base64Encoded: text))) as? [String: Any]
        return try XCTUnwrap(header?["kid"] as? String)
    }
}

/// A value behind a lock, for the validator thread and the test.
private final class Guarded<Value>: @unchecked Sendable {
    // Safe: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
