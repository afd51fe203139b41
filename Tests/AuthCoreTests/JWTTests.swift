@testable import AuthCore
import Foundation
import RPCCore
import Support
import TestSupport
import XCTest

/// HS256 JWTs: the RFC 7515 vector, each rejection with its meaning, key rotation, and an
/// independent implementation (PyJWT) reading ours and writing tokens we accept.
final class JWTTests: XCTestCase {
    let clock = TestClock()

    func makeCore(_ configuration: AuthConfiguration = Fixtures.configuration(), now: (@Sendable () -> Date)? = nil) throws -> AuthCore {
        try AuthCore(configuration: configuration, store: InMemoryAuthStore(), now: now ?? clock.function)
    }

    /// A token made by hand: header and payload JSON as given, signed with `key` (or with the
    /// signature given).
    func craft(header: String, payload: String, key: [UInt8] = Fixtures.key1, signature: String? = nil) -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        return input + "." + (signature ?? Base64URL.encode(JWTCodec.hmacSHA256(key: key, data: Array(input.utf8))))
    }

    func payload(sub: String = "\"7\"", iat: Int64? = nil, exp: Int64? = nil, extra: String = "") -> String {
        let now = Int64(clock.now.timeIntervalSince1970)
        return "{\"sub\":\(sub),\"iat\":\(iat ?? now),\"exp\":\(exp ?? now + 600),\"jti\":\"\(TokenID.random())\",\"iss\":\"auth-tests\",\"aud\":\"internal\"\(extra)}"
    }

    let goodHeader = #"{"alg":"HS256","typ":"JWT","kid":"k1"}"#

    // MARK: RFC 7515 appendix A.1

    func testRFC7515AppendixA1() throws {
        let key = try XCTUnwrap(Base64URL.decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"))
        let header = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"
        let payload = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
        XCTAssertEqual(Base64URL.encode(header), "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9")
        XCTAssertEqual(Base64URL.encode(payload),
                       "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ")
        let token = craft(header: header, payload: payload, key: key)
        XCTAssertEqual(token, "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
                       + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                       + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        // Our reader parses both parts of the vector.
        var exp: Int64?, iss: [UInt8]?, alg: [UInt8]?
        let p = try XCTUnwrap(Base64URL.decode(String(token.split(separator: ".")[1])))
        XCTAssertTrue(p.withUnsafeBufferPointer { buf in
            var s = JSONScanner(buf)
            return s.object { s, name in
                if s.string(name, equals: Array("exp".utf8)) { exp = s.integer(); return exp != nil }
                if s.string(name, equals: Array("iss".utf8)) { guard let v = s.string() else { return false }; iss = s.unescaped(v); return true }
                return s.skipValue()
            }
        })
        XCTAssertEqual(exp, 1_300_819_380)
        XCTAssertEqual(iss, Array("joe".utf8))
        let h = try XCTUnwrap(Base64URL.decode(String(token.split(separator: ".")[0])))
        XCTAssertTrue(h.withUnsafeBufferPointer { buf in
            var s = JSONScanner(buf)
            return s.object { s, name in
                if s.string(name, equals: Array("alg".utf8)) { guard let v = s.string() else { return false }; alg = s.unescaped(v); return true }
                return s.skipValue()
            }
        })
        XCTAssertEqual(alg, Array("HS256".utf8))
        // The verifier with that key: the signature holds, but our tokens must name their key.
        let codec = JWTCodec(keys: ["a1": key], activeKeyID: "a1", issuer: nil, audience: nil)
        XCTAssertEqual(codec.verify(token, now: 1_300_000_000, leeway: 0), .invalid)
    }

    /// The prepared key (reused OpenSSL contexts) computes what the one-shot HMAC() does, also
    /// from many threads at once.
    func testPreparedHMACKeyMatchesOneShotHMAC() {
        let key = HMACKey(secret: Fixtures.key1)
        let failures = Locked(0)
        Fixtures.concurrently(8) { t in
            for i in 0..<200 {
                let data = (0..<(i * 3 + t)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ t) }
                if key.authenticate(data) != JWTCodec.hmacSHA256(key: Fixtures.key1, data: data) { failures.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, 0)
    }

    // MARK: What passes, and every rejection with its meaning

    func testIssuedTokenHasTheClaimsAndHeader() throws {
        let core = try makeCore()
        let t = try core.register(email: "a@example.com", password: "a long passphrase", clientAddress: nil)
        let parts = t.accessToken.split(separator: ".").map(String.init)
        XCTAssertEqual(parts.count, 3)
        let header = try XCTUnwrap(Base64URL.decode(parts[0]))
        XCTAssertEqual(String(decoding: header, as: UTF8.self), #"{"alg":"HS256","typ":"JWT","kid":"k1"}"#)
        let json = try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(Base64URL.decode(parts[1])))) as! [String: Any]
        XCTAssertEqual(Set(json.keys), ["sub", "iat", "exp", "jti", "sid", "iss", "aud"])
        XCTAssertEqual(json["sub"] as? String, "\(t.userID)")
        XCTAssertEqual(json["iss"] as? String, "auth-tests")
        XCTAssertEqual(json["aud"] as? String, "internal")
        XCTAssertEqual(Base64URL.decode(json["jti"] as! String)?.count, 16)
        // Every token gets a fresh jti.
        let again = try core.login(email: "a@example.com", password: "a long passphrase", clientAddress: nil)
        XCTAssertNotEqual(try core.validate(token: again.accessToken).claims().tokenID, try core.validate(token: t.accessToken).claims().tokenID)
    }

    func testTamperedSignatureIsInvalid() throws {
        let core = try makeCore()
        let t = try core.register(email: "b@example.com", password: "a long passphrase", clientAddress: nil).accessToken
        var chars = Array(t)
        chars[chars.count - 5] = chars[chars.count - 5] == "A" ? "B" : "A"
        XCTAssertEqual(core.validate(token: String(chars)), .invalid)
        // A payload changed under the old signature.
        let parts = t.split(separator: ".")
        let forged = craft(header: goodHeader, payload: payload(sub: "\"1\""), signature: String(parts[2]))
        XCTAssertEqual(core.validate(token: forged), .invalid)
        XCTAssertEqual(core.validate(token: forged).error?.message, "Invalid token. Please log in again.")
        // Same claims signed with a key we do not have.
        XCTAssertEqual(core.validate(token: craft(header: goodHeader, payload: payload(), key: Array(repeating: 7, count: 32))), .invalid)
        XCTAssertNotNil(try? core.validate(token: craft(header: goodHeader, payload: payload())).claims(), "control: the honest token passes")
    }

    func testOtherAlgorithmsAndNoneAreInvalid() throws {
        let core = try makeCore()
        for alg in ["HS384", "HS512", "RS256", "ES256", "none", "None", "NONE", "hs256", "HS256 ", ""] {
            let header = #"{"alg":"\#(alg)","typ":"JWT","kid":"k1"}"#
            XCTAssertEqual(core.validate(token: craft(header: header, payload: payload())), .invalid, alg)
            XCTAssertEqual(core.validate(token: craft(header: header, payload: payload(), signature: "")), .invalid, alg)
        }
        // alg none, unsigned, with the classic trailing dot.
        let none = Base64URL.encode(#"{"alg":"none","kid":"k1"}"#) + "." + Base64URL.encode(payload()) + "."
        XCTAssertEqual(core.validate(token: none), .invalid)
        // Missing alg, duplicated alg, alg not a string, crit.
        for header in [#"{"typ":"JWT","kid":"k1"}"#, #"{"alg":"HS256","alg":"none","kid":"k1"}"#, #"{"alg":["HS256"],"kid":"k1"}"#,
                       #"{"alg":"HS256","kid":"k1","crit":["exp"]}"#] {
            XCTAssertEqual(core.validate(token: craft(header: header, payload: payload())), .invalid, header)
        }
    }

    func testUnknownOrMissingKidIsInvalidAndRotationWorks() throws {
        let core = try makeCore()
        XCTAssertEqual(core.validate(token: craft(header: #"{"alg":"HS256","kid":"k9"}"#, payload: payload())), .invalid)
        XCTAssertEqual(core.validate(token: craft(header: #"{"alg":"HS256"}"#, payload: payload())), .invalid)
        XCTAssertEqual(core.validate(token: craft(header: #"{"alg":"HS256","kid":"k0"}"#, payload: payload(), key: Fixtures.key1)), .invalid,
                       "kid names the key that must verify")
        // Rotation: k0 signs; later k1 signs while k0 still verifies; then k0 is retired.
        var old = Fixtures.configuration()
        old.activeKeyID = "k0"
        let t = try makeCore(old).register(email: "c@example.com", password: "a long passphrase", clientAddress: nil).accessToken
        XCTAssertNotNil(try? core.validate(token: t).claims())
        var retired = Fixtures.configuration()
        retired.signingKeys = ["k1": Fixtures.key1]
        XCTAssertEqual(try makeCore(retired).validate(token: t), .invalid)
    }

    func testExpiredAndNotYetValid() throws {
        let core = try makeCore()
        let now = Int64(clock.now.timeIntervalSince1970)
        XCTAssertEqual(core.validate(token: craft(header: goodHeader, payload: payload(iat: now - 700, exp: now - 6))), .expired)
        XCTAssertEqual(core.validate(token: craft(header: goodHeader, payload: payload(iat: now - 700, exp: now - 6))).error?.message,
                       "Signature expired. Please log in again.")
        XCTAssertNotNil(try? core.validate(token: craft(header: goodHeader, payload: payload(iat: now - 700, exp: now - 4))).claims(),
                        "within the 5 s leeway")
        XCTAssertEqual(core.validate(token: craft(header: goodHeader, payload: payload(extra: ",\"nbf\":\(now + 60)"))), .invalid)
        XCTAssertNotNil(try? core.validate(token: craft(header: goodHeader, payload: payload(extra: ",\"nbf\":\(now + 4)"))).claims())
        // Our own token, once its lifetime has passed.
        let t = try core.register(email: "d@example.com", password: "a long passphrase", clientAddress: nil).accessToken
        clock.advance(15 * 60 + 6)
        XCTAssertEqual(core.validate(token: t), .expired)
        XCTAssertEqual(AuthError.code { _ = try core.status(token: t) }, .tokenExpired)
    }

    func testRevokedAndRevokedAll() throws {
        let core = try makeCore()
        let a = try core.register(email: "e@example.com", password: "a long passphrase", clientAddress: nil)
        let b = try core.register(email: "f@example.com", password: "a long passphrase", clientAddress: nil)
        try core.logout(token: a.accessToken)
        XCTAssertEqual(core.validate(token: a.accessToken), .revoked)
        try core.revokeAllTokens(userID: b.userID)
        XCTAssertEqual(core.validate(token: b.accessToken), .revoked)
        XCTAssertEqual(core.validate(token: b.accessToken).error?.message, "Token blacklisted. Please log in again.")
    }

    func testIssuerAndAudienceAreChecked() throws {
        let core = try makeCore()
        let now = Int64(clock.now.timeIntervalSince1970)
        func token(_ claims: String) -> String {
            craft(header: goodHeader, payload: "{\"sub\":\"7\",\"iat\":\(now),\"exp\":\(now + 60),\"jti\":\"\(TokenID.random())\"\(claims)}")
        }
        XCTAssertNotNil(try? core.validate(token: token(#","iss":"auth-tests","aud":["other","internal"]"#)).claims())
        XCTAssertEqual(core.validate(token: token(#","iss":"auth-tests","aud":"other""#)), .invalid)
        XCTAssertEqual(core.validate(token: token(#","iss":"evil","aud":"internal""#)), .invalid)
        XCTAssertEqual(core.validate(token: token(#","aud":"internal""#)), .invalid, "iss required when configured")
        XCTAssertEqual(core.validate(token: token(#","iss":"auth-tests""#)), .invalid, "aud required when configured")
        XCTAssertNotNil(try? core.validate(token: token(#","iss":"auth-\u0074ests","aud":"internal""#)).claims(), "escapes resolved")
    }

    func testGarbageIsInvalid() throws {
        let core = try makeCore()
        let p = payload()
        var garbage = ["x", "a.b", "a.b.c", "...", "a.b.c.d", "Bearer x.y.z", String(repeating: "A", count: 9000),
                       "eyJ.eyJ.eyJ", "\u{0}\u{1}.\u{2}.\u{3}", "é.é.é"]
        garbage.append(craft(header: goodHeader, payload: "not json"))
        garbage.append(craft(header: goodHeader, payload: "[1,2]"))
        garbage.append(craft(header: goodHeader, payload: p + " trailing"))
        garbage.append(craft(header: goodHeader, payload: String(p.dropLast())))
        garbage.append(craft(header: goodHeader, payload: payload(sub: "7")))
        garbage.append(craft(header: goodHeader, payload: payload(sub: "\"-7\"")))
        garbage.append(craft(header: goodHeader, payload: payload(sub: "\"007\"")))
        garbage.append(craft(header: goodHeader, payload: payload(extra: ",\"exp\":99999999999")))  // duplicate exp
        garbage.append(craft(header: goodHeader, payload: payload(extra: ",\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]")))
        garbage.append(craft(header: goodHeader, payload: p.replacingOccurrences(of: "\"jti\"", with: "\"jtx\"")))
        garbage.append(craft(header: goodHeader, payload: #"{"sub":"7","iat":1,"exp":1e400,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}"#))
        garbage.append(craft(header: "{\"alg\":\"HS256\",\"kid\":\"k1\"", payload: p))
        garbage.append(craft(header: goodHeader, payload: p) + "=")
        let good = craft(header: goodHeader, payload: p)
        let parts = good.split(separator: ".").map(String.init)
        garbage.append(parts[0] + "=." + parts[1] + "." + parts[2])              // padding
        garbage.append(parts[0] + "." + parts[1] + "." + parts[2].dropLast() + "B")  // non-canonical last char
        garbage.append(parts[0] + "." + parts[1] + "+/." + parts[2])             // base64 (not url) characters
        garbage.append(parts[0] + ". " + parts[1] + "." + parts[2])
        for g in garbage {
            XCTAssertEqual(core.validate(token: g), .invalid, String(g.prefix(80)))
        }
        XCTAssertEqual(core.validate(token: ""), .missing)
        XCTAssertEqual(core.validate(token: "").error?.message, "Provide a valid auth token.")
        XCTAssertNotNil(try? core.validate(token: good).claims(), "control")
        // Random bytes, bounded in count.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<300, using: &rng)
            let s = String(decoding: (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }, as: UTF8.self)
            XCTAssertNotNil(core.validate(token: s).error)
        }
    }

    // MARK: An independent implementation

    func testPyJWTReadsOursAndWeReadPyJWTs() throws {
        let core = try makeCore(now: { Date() })
        let t = try core.register(email: "g@example.com", password: "a long passphrase", clientAddress: nil)
        let script = """
        import sys, time, secrets, base64, jwt
        token, key = sys.stdin.read().split("\\n")[:2]
        key = bytes.fromhex(key)
        claims = jwt.decode(token, key, algorithms=["HS256"], audience="internal", issuer="auth-tests",
                            options={"require": ["exp", "iat", "sub", "jti"]})
        print(claims["sub"], jwt.get_unverified_header(token)["kid"])
        now = int(time.time())
        jti = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        print(jwt.encode({"sub": "4242", "iat": now, "exp": now + 300, "jti": jti, "iss": "auth-tests", "aud": "internal"},
                         key, algorithm="HS256", headers={"kid": "k1"}))
        print(jwt.encode({"sub": "4242", "iat": now, "exp": now + 300, "jti": jti, "iss": "auth-tests", "aud": "internal"},
                         key, algorithm="HS512", headers={"kid": "k1"}))
        """
        let hexKey = Fixtures.key1.map { String(format: "%02x", $0) }.joined()
        let r = try ProcessRunner.run(try TestEnvironment.python(), ["-c", script], input: Data("\(t.accessToken)\n\(hexKey)\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "\(t.userID) k1")
        guard lines.count == 3 else { return XCTFail(r.stdout + r.stderr) }
        XCTAssertEqual(try core.validate(token: lines[1]).claims().userID, 4242)
        XCTAssertEqual(core.validate(token: lines[2]), .invalid, "HS512 refused")
    }
}
