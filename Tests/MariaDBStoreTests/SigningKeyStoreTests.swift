import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// The key set on MariaDB: what is inserted reads back the same, a key retires once, expired keys
/// are purged, and two cores on the same database sign with the same key.
final class SigningKeyStoreTests: XCTestCase {
    var database: MariaDBTestDatabase!

    override func setUpWithError() throws {
        database = try MariaDBTestDatabase(poolSize: 2)
    }

    override func tearDown() {
        database?.drop()
    }

    func testKeysRoundTripRetireOnceAndPurge() throws {
        let store = try database.store()
        let kek = KeyEncryptionKey.random()
        let at = Date(millisecondsSince1970: 1_800_000_000_123)
        let ed = SigningKeyRecord.generate(.eddsa, encryptionKey: kek, createdAt: at, signsFrom: at.addingTimeInterval(600))
        let hs = SigningKeyRecord.generate(.hs256, encryptionKey: kek, createdAt: at.addingTimeInterval(1), signsFrom: at)
        try store.insertSigningKey(ed)
        try store.insertSigningKey(hs)
        XCTAssertThrowsError(try store.insertSigningKey(ed), "a kid is unique")
        XCTAssertEqual(try store.signingKeys(), [ed, hs])

        let retiredAt = at.addingTimeInterval(700), expires = at.addingTimeInterval(1700)
        XCTAssertTrue(try store.retireSigningKey(kid: ed.kid, at: retiredAt, expiresAt: expires))
        XCTAssertFalse(try store.retireSigningKey(kid: ed.kid, at: retiredAt, expiresAt: expires.addingTimeInterval(99)))
        XCTAssertFalse(try store.retireSigningKey(kid: "ed-none", at: retiredAt, expiresAt: expires))
        let read = try XCTUnwrap(try store.signingKeys().first { $0.kid == ed.kid })
        XCTAssertEqual(read.retiredAt, retiredAt)
        XCTAssertEqual(read.expiresAt, expires)

        XCTAssertEqual(try store.purgeSigningKeys(expiredBy: expires.addingTimeInterval(-1)), 0)
        XCTAssertEqual(try store.purgeSigningKeys(expiredBy: expires), 1)
        XCTAssertEqual(try store.signingKeys().map(\.kid), [hs.kid])
    }

    func testTwoCoresOnOneDatabaseShareTheKeySet() throws {
        var configuration = AuthTestConfiguration.make()
        configuration.keySet = KeySetConfiguration(encryptionKey: .random())
        let a = try AuthCore(configuration: configuration, store: try database.store())
        let b = try AuthCore(configuration: configuration, store: try database.store())
        XCTAssertNotNil(a.signingKeyID)
        XCTAssertEqual(a.signingKeyID, b.signingKeyID)
        let tokens = try a.register(email: "keys@example.com", password: "a long passphrase", clientAddress: nil)
        XCTAssertNotNil(try? b.validate(token: tokens.accessToken).claims())
        XCTAssertEqual(a.publishedKeys.jwks, b.publishedKeys.jwks)
    }
}
