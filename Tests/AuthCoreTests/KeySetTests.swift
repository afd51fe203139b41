@testable import AuthCore
import Foundation
import Support
import TestSupport
import XCTest

/// EdDSA tokens and the key set: the RFC 8032 vector, the algorithm pinned to the kid's key
/// (forgeries refused), and a key's life cycle from generate to removal on an injected clock.
final class KeySetTests: XCTestCase {
    let clock = TestClock()
    let encryptionKey = KeyEncryptionKey.random()

    func keySetConfiguration(lead: Duration = .seconds(10)) -> AuthConfiguration {
        var c = Fixtures.configuration()
        c.keySet = KeySetConfiguration(encryptionKey: encryptionKey, signingAlgorithm: .eddsa, publishLead: lead)
        c.accessTokenLifetime = .seconds(60)
        c.leeway = .seconds(5)
        return c
    }

    func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    func header(of token: String) throws -> [String: String] {
        let part = String(token.split(separator: ".")[0])
        let json = try XCTUnwrap(Base64URL.decode(part))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json)) as? [String: String])
    }

    func register(_ core: AuthCore, _ n: Int = 1) throws -> IssuedTokens {
        try core.register(email: "user\(n)@example.com", password: "a long passphrase \(n)", clientAddress: "10.0.0.\(n)")
    }

    // MARK: Ed25519

    /// RFC 8032 section 7.1, test 1 (the empty message).
    func testRFC8032Test1() throws {
        let key = try Ed25519Key(privateKey: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        XCTAssertEqual(key.publicKey, hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let expected = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                           + "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        XCTAssertEqual(key.sign([]), expected)
        let verifier = try Ed25519Key(publicKey: key.publicKey)
        XCTAssertTrue(verifier.verify([], signature: expected))
        var bad = expected
        bad[10] ^= 1
        XCTAssertFalse(verifier.verify([], signature: bad))
        XCTAssertFalse(verifier.verify([0], signature: expected))
    }

    func testSealedKeyOpensOnlyWithItsKeyAndRow() {
        let record = SigningKeyRecord.generate(.eddsa, encryptionKey: encryptionKey, createdAt: clock.now, signsFrom: clock.now)
        XCTAssertNotNil(encryptionKey.open(record.sealedPrivateKey, associatedData: record.associatedData))
        XCTAssertNil(KeyEncryptionKey.random().open(record.sealedPrivateKey, associatedData: record.associatedData))
        var moved = record
        moved.kid = "ed-other"
        XCTAssertNil(encryptionKey.open(record.sealedPrivateKey, associatedData: moved.associatedData))
    }

    // MARK: Tokens

    func testFirstStartMakesAKeyThatSignsEdDSATokens() throws {
        let store = InMemoryAuthStore()
        let core = try Fixtures.core(store, clock: clock, configuration: keySetConfiguration())
        let keys = try store.signingKeys()
        XCTAssertEqual(keys.count, 1)
        XCTAssertEqual(keys[0].algorithm, .eddsa)
        XCTAssertFalse(keys[0].sealedPrivateKey.contains(subsequence: keys[0].publicKey), "sealed, not in the clear")
        let tokens = try register(core)
        XCTAssertEqual(try header(of: tokens.accessToken), ["alg": "EdDSA", "kid": keys[0].kid, "typ": "JWT"])
        XCTAssertEqual(tokens.accessToken.split(separator: ".")[2].count, 86)
        guard case .valid(let claims) = core.validate(token: tokens.accessToken) else { return XCTFail("EdDSA token refused") }
        XCTAssertEqual(claims.userID, tokens.userID)
        // A second instance on the same store signs with the same key.
        let other = try Fixtures.core(store, clock: clock, configuration: keySetConfiguration())
        XCTAssertEqual(try store.signingKeys().count, 1)
        XCTAssertEqual(other.signingKeyID, keys[0].kid)
        XCTAssertNotNil(try? other.validate(token: tokens.accessToken).claims())
        // The JWK Set publishes it, and nothing secret.
        let jwks = core.publishedKeys.jwks
        XCTAssertEqual(jwks, #"{"keys":[{"kty":"OKP","crv":"Ed25519","x":""# + Base64URL.encode(keys[0].publicKey)
                       + #"","kid":""# + keys[0].kid + #"","alg":"EdDSA","use":"sig"}]}"#)
        XCTAssertEqual(core.publishedKeys.maxAgeSeconds, 5)
    }

    func testForgedTokensAreRefused() throws {
        let store = InMemoryAuthStore()
        let core = try Fixtures.core(store, clock: clock, configuration: keySetConfiguration())
        let good = try register(core).accessToken
        let parts = good.split(separator: ".").map(String.init)
        let kid = try XCTUnwrap(core.signingKeyID)
        let publicKey = try store.signingKeys()[0].publicKey
        let payload = try XCTUnwrap(Base64URL.decode(parts[1]))

        // alg none, no signature.
        let none = Base64URL.encode(#"{"alg":"none","kid":""# + kid + #""}"#) + "." + parts[1] + "."
        XCTAssertEqual(core.validate(token: none), .invalid)
        // HS256 with the public key as the HMAC secret (the classic key-confusion forgery).
        let confusedHeader = Base64URL.encode(#"{"alg":"HS256","typ":"JWT","kid":""# + kid + #""}"#)
        let input = confusedHeader + "." + parts[1]
        let confused = input + "." + Base64URL.encode(JWTCodec.hmacSHA256(key: publicKey, data: Array(input.utf8)))
        XCTAssertEqual(core.validate(token: confused), .invalid)
        // Signed by an Ed25519 key that is not in the set, under its own kid and under the set's.
        let stranger = Ed25519Key.generate().key
        for strangerKid in ["ed-stranger", kid] {
            let h = Base64URL.encode(#"{"alg":"EdDSA","kid":""# + strangerKid + #"","typ":"JWT"}"#)
            let signed = h + "." + parts[1]
            XCTAssertEqual(core.validate(token: signed + "." + Base64URL.encode(stranger.sign(Array(signed.utf8)))), .invalid)
        }
        // A changed payload under the genuine signature (user 7 instead).
        var changed = String(decoding: payload, as: UTF8.self)
        changed = changed.replacingOccurrences(of: #""sub":"\#(try core.validate(token: good).claims().userID)""#, with: #""sub":"7""#)
        XCTAssertNotEqual(Array(changed.utf8), payload)
        XCTAssertEqual(core.validate(token: parts[0] + "." + Base64URL.encode(changed) + "." + parts[2]), .invalid)
        // The genuine one still passes.
        XCTAssertNotNil(try? core.validate(token: good).claims())
    }

    func testHS256TokensOfTheFilesStillVerifyWithAKeySet() throws {
        let before = try Fixtures.core(InMemoryAuthStore(), clock: clock)
        let old = try register(before).accessToken
        XCTAssertEqual(try header(of: old)["alg"], "HS256")
        let after = try Fixtures.core(InMemoryAuthStore(), clock: clock, configuration: keySetConfiguration())
        XCTAssertNotNil(try? after.validate(token: old).claims(), "an HS256 token of --jwt-secret-file keeps verifying")
        XCTAssertEqual(try header(of: try register(after).accessToken)["alg"], "EdDSA")
    }

    // MARK: Life cycle

    func testRotationFromGenerateToRemoval() throws {
        let store = InMemoryAuthStore()
        let core = try Fixtures.core(store, clock: clock, configuration: keySetConfiguration(lead: .seconds(10)))
        let oldKid = try XCTUnwrap(core.signingKeyID)
        let oldToken = try register(core, 1).accessToken

        // Generated: published at once, not signing before its lead has passed.
        let new = try KeySetAdministration.generate(.eddsa, store: store, encryptionKey: encryptionKey, publishLead: .seconds(10),
                                                    now: clock.now)
        try core.refreshKeys()
        XCTAssertEqual(new.state(at: clock.now), .published)
        XCTAssertTrue(core.publishedKeys.jwks.contains(new.kid))
        XCTAssertEqual(try header(of: try register(core, 2).accessToken)["kid"], oldKid)

        clock.advance(10)
        try core.refreshKeys()
        XCTAssertEqual(core.signingKeyID, new.kid)
        let newToken = try register(core, 3).accessToken
        XCTAssertEqual(try header(of: newToken)["kid"], new.kid)
        XCTAssertNotNil(try? core.validate(token: oldToken).claims(), "tokens of the old key still valid")

        // The last key of its algorithm cannot be retired by mistake; the old one can.
        _ = try KeySetAdministration.retire(oldKid, store: store, longestTokenLifetime: .seconds(65), now: clock.now)
        XCTAssertThrowsError(try KeySetAdministration.retire(oldKid, store: store, longestTokenLifetime: .seconds(65), now: clock.now))
        XCTAssertThrowsError(try KeySetAdministration.retire(new.kid, store: store, longestTokenLifetime: .seconds(65), now: clock.now))
        try core.refreshKeys()
        XCTAssertEqual(try store.signingKeys().first { $0.kid == oldKid }?.state(at: clock.now), .retired)
        XCTAssertTrue(core.publishedKeys.jwks.contains(oldKid), "published while its tokens live")
        clock.advance(50)
        XCTAssertNotNil(try? core.validate(token: oldToken).claims())

        // After its last token expired: gone from the set and the store.
        clock.advance(16)
        try core.refreshKeys()
        XCTAssertFalse(core.publishedKeys.jwks.contains(oldKid))
        XCTAssertEqual(try store.signingKeys().map(\.kid), [new.kid])
        XCTAssertEqual(core.validate(token: newToken), .expired)
        let fresh = try register(core, 4).accessToken
        XCTAssertEqual(try header(of: fresh)["kid"], new.kid)
        XCTAssertNotNil(try? core.validate(token: fresh).claims())
    }

    func testAFailedReloadChangesNothing() throws {
        let store = InMemoryAuthStore()
        let core = try Fixtures.core(store, clock: clock, configuration: keySetConfiguration())
        let kid = core.signingKeyID
        let published = core.publishedKeys
        let token = try register(core).accessToken
        // A key sealed under another key-encryption key (or tampered with) does not open.
        try store.insertSigningKey(SigningKeyRecord.generate(.eddsa, encryptionKey: .random(), createdAt: clock.now, signsFrom: clock.now))
        XCTAssertThrowsError(try core.reloadKeys())
        XCTAssertThrowsError(try core.refreshKeys())
        XCTAssertEqual(core.signingKeyID, kid)
        XCTAssertEqual(core.publishedKeys, published)
        XCTAssertNotNil(try? core.validate(token: token).claims())
        XCTAssertEqual(try header(of: try register(core, 2).accessToken)["kid"], kid)
    }

    func testHS256KeysOfTheSetSignButAreNeverPublished() throws {
        let store = InMemoryAuthStore()
        var configuration = keySetConfiguration()
        configuration.keySet?.signingAlgorithm = .hs256
        let core = try Fixtures.core(store, clock: clock, configuration: configuration)
        let token = try register(core).accessToken
        XCTAssertEqual(try header(of: token)["alg"], "HS256")
        XCTAssertEqual(try header(of: token)["kid"], core.signingKeyID)
        XCTAssertNotNil(try? core.validate(token: token).claims())
        XCTAssertEqual(core.publishedKeys.jwks, #"{"keys":[]}"#)
    }
}

private extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard !subsequence.isEmpty, subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { Array(self[$0..<($0 + subsequence.count)]) == subsequence }
    }
}
