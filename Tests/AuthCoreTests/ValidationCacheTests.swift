@testable import AuthCore
import Foundation
import RPCCore
import TestSupport
import XCTest

/// The validated-token cache: a hit answers what a full verification would, and expiry and every
/// kind of revocation still apply to cached tokens. Every test runs on the in-memory store and on
/// the private MariaDB (`forEachStore`).
final class ValidationCacheTests: StoreTestCase {
    private func uncached(_ core: AuthCore, _ token: String) -> ValidationResult {
        var token = token
        return token.withUTF8 { core.validateUncached(tokenBytes: $0) }
    }

    func testAHitAnswersWhatAMissDoes() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "cache@example.com", password: "a long passphrase", clientAddress: nil)
            XCTAssertEqual(core.validated.count, 0)
            let miss = core.validate(token: issued.accessToken)
            guard case .valid(let claims) = miss else { return XCTFail("fresh token not valid: \(miss)") }
            XCTAssertEqual(claims.userID, issued.userID)
            XCTAssertEqual(core.validated.count, 1, "a valid token is cached")
            let hit = core.validate(token: issued.accessToken)
            XCTAssertEqual(hit, miss)
            XCTAssertEqual(hit, uncached(core, issued.accessToken))
            var bytes = Array(issued.accessToken.utf8)
            XCTAssertEqual(bytes.withUnsafeBufferPointer { core.validate(tokenBytes: $0) }, miss)
            XCTAssertEqual(core.validated.count, 1)
            // Refusals are not cached.
            XCTAssertEqual(core.validate(token: "junk"), .invalid)
            XCTAssertEqual(core.validate(token: ""), .missing)
            bytes[bytes.count - 30] ^= 1
            XCTAssertEqual(bytes.withUnsafeBufferPointer { core.validate(tokenBytes: $0) }, .invalid)
            XCTAssertEqual(core.validated.count, 1)
        }
    }

    /// The statistics count a hit for each validation the cache answered and a miss for each
    /// non-empty token verified in full (a refusal included); a missing token counts as neither.
    func testStatisticsCountHitsAndMisses() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "counted@example.com", password: "a long passphrase", clientAddress: nil)
            let start = core.statistics
            guard case .valid = core.validate(token: issued.accessToken) else { return XCTFail("not valid") }
            for _ in 0..<3 { _ = core.validate(token: issued.accessToken) }
            XCTAssertEqual(core.validate(token: "junk"), .invalid)
            XCTAssertEqual(core.validate(token: ""), .missing)
            let end = core.statistics
            XCTAssertEqual(end.validateCacheHits - start.validateCacheHits, 3)
            XCTAssertEqual(end.validateCacheMisses - start.validateCacheMisses, 2)
        }
    }

    /// A different token that ends in the same bytes, with the same length (so the same hash
    /// and slot), is not taken for the cached one.
    func testATokenWithTheSameHashIsNotAHit() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "twin@example.com", password: "a long passphrase", clientAddress: nil)
            guard case .valid = core.validate(token: issued.accessToken) else { return XCTFail("not valid") }
            var twin = Array(issued.accessToken.utf8)
            let dot = twin.firstIndex(of: UInt8(ascii: "."))!
            twin[dot + 3] = twin[dot + 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")  // in the payload
            XCTAssertEqual(twin.count, issued.accessToken.utf8.count)
            XCTAssertEqual(Array(twin.suffix(43)), Array(issued.accessToken.utf8.suffix(43)))
            XCTAssertEqual(twin.withUnsafeBufferPointer { core.validate(tokenBytes: $0) }, .invalid)
            XCTAssertEqual(twin.withUnsafeBufferPointer { core.validated.lookup($0) }.map { _ in true }, nil)
        }
    }

    func testAnExpiredTokenIsRefusedAlthoughCached() {
        forEachStore { fixture in
            var configuration = Fixtures.configuration()
            configuration.accessTokenLifetime = .seconds(60)
            let core = try fixture.core(configuration)
            let issued = try core.register(email: "expiry@example.com", password: "a long passphrase", clientAddress: nil)
            guard case .valid = core.validate(token: issued.accessToken) else { return XCTFail("not valid") }
            fixture.clock.advance(60 + configuration.leeway / .seconds(1) - 1)
            guard case .valid = core.validate(token: issued.accessToken) else { return XCTFail("refused within the leeway") }
            fixture.clock.advance(1)
            XCTAssertEqual(core.validate(token: issued.accessToken), .expired)
            XCTAssertEqual(uncached(core, issued.accessToken), .expired)
        }
    }

    func testALoggedOutTokenIsRefusedAlthoughCached() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "logout@example.com", password: "a long passphrase", clientAddress: nil)
            let other = try core.login(email: "logout@example.com", password: "a long passphrase", clientAddress: nil)
            for token in [issued.accessToken, other.accessToken] {
                guard case .valid = core.validate(token: token) else { return XCTFail("not valid") }
            }
            try core.logout(token: issued.accessToken)
            XCTAssertEqual(core.validate(token: issued.accessToken), .revoked)
            XCTAssertEqual(core.validate(token: issued.accessToken), .revoked)
            guard case .valid = core.validate(token: other.accessToken) else { return XCTFail("another token of the user refused") }
            guard case .valid = core.validate(token: other.accessToken) else { return XCTFail("another token of the user refused") }
        }
    }

    func testRevokeAllIsHonouredForCachedTokens() {
        forEachStore { fixture in
            let core = try fixture.core()
            let alice = try core.register(email: "alice@example.com", password: "a long passphrase", clientAddress: nil)
            let bob = try core.register(email: "bob@example.com", password: "a long passphrase", clientAddress: nil)
            for token in [alice.accessToken, bob.accessToken] {
                guard case .valid = core.validate(token: token) else { return XCTFail("not valid") }
            }
            try core.revokeAllTokens(userID: alice.userID)
            XCTAssertEqual(core.validate(token: alice.accessToken), .revoked)
            guard case .valid = core.validate(token: bob.accessToken) else { return XCTFail("another user's token refused") }
            // A token issued after the cut-off's second is valid, and cached like any other.
            fixture.clock.advance(1)
            let later = try core.login(email: "alice@example.com", password: "a long passphrase", clientAddress: nil)
            guard case .valid = core.validate(token: later.accessToken), case .valid = core.validate(token: later.accessToken) else {
                return XCTFail("a token issued after revoke-all refused")
            }
            XCTAssertEqual(core.validate(token: alice.accessToken), .revoked)
        }
    }

    /// Logout ends the token's refresh family too; a cached access token of that session is refused,
    /// and so is the family's refresh token.
    func testLogoutOfASessionIsHonouredForCachedTokens() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "family@example.com", password: "a long passphrase", clientAddress: nil)
            let refreshed = try core.refresh(refreshToken: issued.refreshToken, clientAddress: nil)
            guard case .valid = core.validate(token: refreshed.accessToken) else { return XCTFail("not valid") }
            try core.logout(token: refreshed.accessToken)
            XCTAssertEqual(core.validate(token: refreshed.accessToken), .revoked)
            XCTAssertEqual(AuthError.code { _ = try core.refresh(refreshToken: refreshed.refreshToken, clientAddress: nil) }, .refreshInvalid)
        }
    }

    /// A revocation made through another instance reaches this one's cached tokens at its next poll.
    func testRevocationsFromAnotherInstanceReachCachedTokens() {
        forEachStore { fixture in
            let a = try fixture.core()
            let b = try fixture.core(shared: true)
            try b.start()
            defer { b.stop() }
            let issued = try a.register(email: "shared@example.com", password: "a long passphrase", clientAddress: nil)
            let second = try a.login(email: "shared@example.com", password: "a long passphrase", clientAddress: nil)
            for token in [issued.accessToken, second.accessToken] {
                guard case .valid = b.validate(token: token), case .valid = b.validate(token: token) else { return XCTFail("not valid") }
            }
            try a.logout(token: issued.accessToken)
            try b.pollRevocations()
            XCTAssertEqual(b.validate(token: issued.accessToken), .revoked)
            guard case .valid = b.validate(token: second.accessToken) else { return XCTFail("not valid") }
            try a.revokeAllTokens(userID: issued.userID)
            try b.pollRevocations()
            XCTAssertEqual(b.validate(token: second.accessToken), .revoked)
        }
    }

    /// Keys are fixed for a core's life: a core without the key a token was signed with (the key
    /// retired) refuses it, whatever another core had cached; a core that still has the key
    /// accepts it and caches it.
    func testARetiredKeyInvalidatesTokens() {
        forEachStore { fixture in
            var old = Fixtures.configuration()
            old.activeKeyID = "k0"
            let before = try fixture.core(old)
            let issued = try before.register(email: "rotate@example.com", password: "a long passphrase", clientAddress: nil)
            guard case .valid = before.validate(token: issued.accessToken) else { return XCTFail("not valid") }
            var rolled = Fixtures.configuration()  // k1 active, k0 still verifies
            let during = try fixture.core(rolled, shared: true)
            guard case .valid = during.validate(token: issued.accessToken), case .valid = during.validate(token: issued.accessToken) else {
                return XCTFail("a token of the previous key refused during the roll-over")
            }
            rolled.signingKeys["k0"] = nil  // retired
            let after = try fixture.core(rolled, shared: true)
            XCTAssertEqual(after.validate(token: issued.accessToken), .invalid)
            XCTAssertEqual(after.validated.count, 0)
        }
    }

    /// In memory only: the bound is the cache's own, and 600 refreshes cost seconds on MariaDB.
    func testCapacityIsNeverExceededAndEvictedTokensStillVerify() {
        run(on: .inMemory) { fixture in
            var configuration = Fixtures.configuration()
            configuration.validationCacheCapacity = 256
            let core = try fixture.core(configuration)
            XCTAssertEqual(core.validated.capacity, 256)
            let issued = try core.register(email: "many@example.com", password: "a long passphrase", clientAddress: nil)
            var tokens: [String] = []
            var refresh = issued.refreshToken
            for _ in 0..<600 {
                let t = try core.refresh(refreshToken: refresh, clientAddress: nil)
                refresh = t.refreshToken
                tokens.append(t.accessToken)
            }
            for _ in 0..<2 {
                for token in tokens {
                    guard case .valid = core.validate(token: token) else { return XCTFail("a token refused") }
                }
            }
            XCTAssertLessThanOrEqual(core.validated.count, 256)
            XCTAssertGreaterThan(core.validated.count, 128, "the cache is used")
        }
    }

    func testConcurrentValidationWhileTokensAreRevoked() {
        forEachStore { fixture in
            let core = try fixture.core()
            let issued = try core.register(email: "threads@example.com", password: "a long passphrase", clientAddress: nil)
            // A session each: a logout revokes its whole session.
            var tokens: [String] = [issued.accessToken]
            for _ in 1..<64 {
                tokens.append(try core.login(email: "threads@example.com", password: "a long passphrase", clientAddress: nil).accessToken)
            }
            let revoked = Set(tokens.indices.filter { $0 % 4 == 0 })
            let tally = Tally()
            let shared = tokens
            Fixtures.concurrently(6) { worker in
                if worker == 0 {
                    for i in revoked.sorted() { try? core.logout(token: shared[i]) }
                    return
                }
                for round in 0..<300 {
                    let i = (round * 7 + worker) % shared.count
                    switch core.validate(token: shared[i]) {
                    case .valid: tally.add("valid")
                    case .revoked: tally.add(revoked.contains(i) ? "revoked" : "wrongly revoked")
                    default: tally.add("other")
                    }
                }
            }
            XCTAssertEqual(tally["wrongly revoked"], 0)
            XCTAssertEqual(tally["other"], 0)
            for (i, token) in tokens.enumerated() {
                if revoked.contains(i) {
                    XCTAssertEqual(core.validate(token: token), .revoked, "token \(i)")
                } else {
                    guard case .valid = core.validate(token: token) else { return XCTFail("token \(i) refused") }
                }
            }
        }
    }
}

/// The cache by itself, without a core or a store.
final class ValidatedTokenCacheTests: XCTestCase {
    func testItHoldsItsBoundUnderManyDistinctTokens() {
        let cache = ValidatedTokenCache(capacity: 4096)
        let claims = AccessClaims(userID: 1, issuedAt: 0, expiresAt: 1, tokenID: .random())
        for _ in 0..<50_000 {
            let token = Array(Base64URL.encode(SecureRandom.bytes(90)).utf8)
            token.withUnsafeBufferPointer { cache.insert($0, claims: claims, checkedGeneration: 0) }
        }
        XCTAssertEqual(cache.capacity, 4096)
        XCTAssertLessThanOrEqual(cache.count, 4096)
        XCTAssertGreaterThan(cache.count, 3500)
        XCTAssertEqual(ValidatedTokenCache(capacity: 0).isEnabled, false)
    }
}
