@testable import AuthCore
import COpenSSL
import Foundation
import XCTest

/// Not a test: measures `validate(token:)` on one core, from the validated-token cache (a hit)
/// and without it (the full verification), beside a bare HMAC-SHA256 of the same bytes through
/// OpenSSL, then cached validation from several threads at once (the cache's shard locks and
/// the revocation generation are shared), and prints the figures. It asserts nothing about time. Run it in release mode
/// with `scripts/bench-core` (debug figures are several times slower).
final class ValidationBenchmarkTests: XCTestCase {
    func testValidationThroughput() throws {
        var configuration = Fixtures.configuration(hashing: Fixtures.cheapHashing)
        configuration.issuer = "auth"
        configuration.audience = "internal"
        let core = try AuthCore(configuration: configuration, store: InMemoryAuthStore())
        let token = try core.register(email: "bench@example.com", password: "a long passphrase", clientAddress: nil).accessToken
        // Some revoked ids in memory, as in production.
        for i in 0..<1000 {
            let t = try core.login(email: "bench@example.com", password: "a long passphrase", clientAddress: "10.0.\(i / 250).\(i % 250)")
            try core.logout(token: t.accessToken)
        }
        guard case .valid = core.validate(token: token) else { return XCTFail("benchmark token invalid") }

        #if DEBUG
        let defaultIterations = 5_000  // keeps `swift test` quick; the figures that count come from release
        #else
        let defaultIterations = 500_000
        #endif
        let iterations = ProcessInfo.processInfo.environment["BENCH_ITERATIONS"].flatMap(Int.init) ?? defaultIterations
        let signingInput = Array(token.utf8[..<token.utf8.lastIndex(of: UInt8(ascii: "."))!])
        let key = Fixtures.key1

        func measure(_ body: () -> Int) -> Double {
            _ = body()  // warm-up
            let start = DispatchTime.now().uptimeNanoseconds
            let sink = body()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            XCTAssertGreaterThan(sink, 0)
            return elapsed / Double(iterations)
        }
        let validateNs = measure {
            var ok = 0
            for _ in 0..<iterations { if case .valid = core.validate(token: token) { ok += 1 } }
            return ok
        }
        let tokenBytes = Array(token.utf8)
        let cachedBytesNs = measure {
            var ok = 0
            tokenBytes.withUnsafeBufferPointer { t in
                for _ in 0..<iterations { if case .valid = core.validate(tokenBytes: t) { ok += 1 } }
            }
            return ok
        }
        let uncachedNs = measure {
            var ok = 0
            tokenBytes.withUnsafeBufferPointer { t in
                for _ in 0..<iterations { if case .valid = core.validateUncached(tokenBytes: t) { ok += 1 } }
            }
            return ok
        }
        let hmacNs = measure {
            var out = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 0
            var acc = 0
            for _ in 0..<iterations {
                _ = HMAC(EVP_sha256(), key, Int32(key.count), signingInput, signingInput.count, &out, &length)
                acc &+= Int(out[0]) &+ 1
            }
            return acc
        }
        // The same HMAC with the key prepared once (the way validate computes it): EVP_MAC_CTX_dup per call.
        let mac = EVP_MAC_fetch(nil, "HMAC", nil)!
        let template = EVP_MAC_CTX_new(mac)!
        defer { EVP_MAC_CTX_free(template); EVP_MAC_free(mac) }
        let digest = strdup("SHA256")!
        defer { free(digest) }
        var params = [OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()]
        XCTAssertEqual(EVP_MAC_init(template, key, key.count, &params), 1)
        let preparedNs = measure {
            var out = [UInt8](repeating: 0, count: 32)
            var length = 0
            var acc = 0
            for _ in 0..<iterations {
                let ctx = EVP_MAC_CTX_dup(template)
                _ = EVP_MAC_update(ctx, signingInput, signingInput.count)
                _ = EVP_MAC_final(ctx, &out, &length, 32)
                EVP_MAC_CTX_free(ctx)
                acc &+= Int(out[0]) &+ 1
            }
            return acc
        }
        // And with one context reused, restarted without re-keying (what validate does in the steady state).
        let reusedNs = measure {
            var out = [UInt8](repeating: 0, count: 32)
            var length = 0
            var acc = 0
            let ctx = EVP_MAC_CTX_dup(template)
            defer { EVP_MAC_CTX_free(ctx) }
            for _ in 0..<iterations {
                _ = EVP_MAC_init(ctx, nil, 0, nil)
                _ = EVP_MAC_update(ctx, signingInput, signingInput.count)
                _ = EVP_MAC_final(ctx, &out, &length, 32)
                acc &+= Int(out[0]) &+ 1
            }
            return acc
        }
        print(String(format: "validate: %.0f ns/validation, %.0f validations/s on one core (token %d bytes, %d iterations; a cache hit)",
                     validateNs, 1e9 / validateNs, token.utf8.count, iterations))
        print(String(format: "validate cached, from bytes (no String): %.0f ns/validation, %.0f validations/s",
                     cachedBytesNs, 1e9 / cachedBytesNs))
        print(String(format: "validate uncached (full verification): %.0f ns/validation, %.0f validations/s; the cache saves %.1fx",
                     uncachedNs, 1e9 / uncachedNs, uncachedNs / cachedBytesNs))
        print(String(format: "bare HMAC-SHA256 (OpenSSL HMAC()) of the same %d bytes: %.0f ns, %.0f/s; validate costs %.1fx",
                     signingInput.count, hmacNs, 1e9 / hmacNs, validateNs / hmacNs))
        print(String(format: "bare HMAC-SHA256 with the key prepared once (EVP_MAC_CTX_dup): %.0f ns, %.0f/s; validate costs %.1fx",
                      preparedNs, 1e9 / preparedNs, validateNs / preparedNs))
        print(String(format: "bare HMAC-SHA256 with one context reused (EVP_MAC_init restart): %.0f ns, %.0f/s; validate costs %.1fx",
                      reusedNs, 1e9 / reusedNs, validateNs / reusedNs))
    }

    /// Cached validation from 1, 2 and 4 threads at once (distinct tokens, so mostly distinct
    /// cache shards; the revocation generation is one shared atomic): validations per second in
    /// all. Run unpinned (`scripts/bench-core` does) to see the contention between cores.
    func testCachedValidationFromSeveralThreads() throws {
        let core = try AuthCore(configuration: Fixtures.configuration(hashing: Fixtures.cheapHashing), store: InMemoryAuthStore())
        #if DEBUG
        let iterations = 20_000
        #else
        let iterations = ProcessInfo.processInfo.environment["BENCH_ITERATIONS"].flatMap(Int.init) ?? 500_000
        #endif
        var tokens: [[UInt8]] = []
        var refresh = try core.register(email: "threads@example.com", password: "a long passphrase", clientAddress: nil).refreshToken
        for _ in 0..<64 {
            let t = try core.refresh(refreshToken: refresh, clientAddress: nil)
            refresh = t.refreshToken
            tokens.append(Array(t.accessToken.utf8))
        }
        let threaded = [1, 2, 4].map { threads -> (Int, Double) in
            let perThread = max(1, iterations / threads)
            let shared = tokens
            let start = DispatchTime.now().uptimeNanoseconds
            Fixtures.concurrently(threads) { worker in
                var ok = 0
                for i in 0..<perThread {
                    shared[(i &+ worker &* 17) % shared.count].withUnsafeBufferPointer { t in
                        if case .valid = core.validate(tokenBytes: t) { ok += 1 }
                    }
                }
                XCTAssertEqual(ok, perThread)
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            return (threads, Double(perThread * threads) / (elapsed / 1e9))
        }
        for (threads, rate) in threaded {
            print(String(format: "validate cached on %d thread(s) at once: %.0f validations/s in all (%d cores)",
                         threads, rate, ProcessInfo.processInfo.activeProcessorCount))
        }
    }
}
