import AuthCore
import Foundation
import TestSupport
import XCTest

/// The stores the core's behaviour is tested on.
enum StoreKind: String, CaseIterable, Sendable {
    case inMemory = "in-memory"
    /// The private MariaDB of `scripts/mariadb`, a fresh database per run of a test body. When it is
    /// not set up, the test fails (it is not skipped).
    case mariaDB = "MariaDB"
}

/// What one run of a test body gets: a fresh clock, and stores of one kind.
final class StoreFixture {
    let kind: StoreKind
    let clock = TestClock()
    private var inMemory: InMemoryAuthStore?
    private let mariadb = MariaDBStores()

    init(_ kind: StoreKind) { self.kind = kind }

    /// A store; `shared: true` gives another handle on the same data (a second instance).
    /// On MariaDB every store of one run is on the same fresh database.
    func makeStore(shared: Bool = false) throws -> any AuthStore {
        switch kind {
        case .inMemory:
            if !shared || inMemory == nil { inMemory = InMemoryAuthStore() }
            return inMemory!
        case .mariaDB:
            return try mariadb.store()
        }
    }

    /// A core on a store of this kind (`shared: true`: on the data of the previous one), on this run's clock.
    func core(_ configuration: AuthConfiguration = Fixtures.configuration(), shared: Bool = false) throws -> AuthCore {
        try Fixtures.core(try makeStore(shared: shared), clock: clock, configuration: configuration)
    }

    /// Closes the stores and drops the MariaDB database, if one was made.
    func tearDown() { mariadb.reset() }
}

/// A suite whose tests run their body on every store (`forEachStore`), so a test added to it runs
/// on MariaDB as well with nothing to restate. (Linux XCTest runs only the methods a class
/// declares itself, so a MariaDB subclass of an in-memory suite silently skips new tests.)
/// Every failure recorded while a body runs names the store it ran on.
class StoreTestCase: XCTestCase {
    /// The store the running body is on.
    private var running: StoreKind?

    /// Runs `body` once per store kind, each with a fresh fixture. A store that cannot be set up,
    /// or a body that throws, fails the test (naming the store) and the next store still runs.
    func forEachStore(file: StaticString = #filePath, line: UInt = #line, _ body: (StoreFixture) throws -> Void) {
        for kind in StoreKind.allCases { run(on: kind, file: file, line: line, body) }
    }

    /// Runs `body` on one store only: for a test about something the store cannot change (say so at the call).
    func run(on kind: StoreKind, file: StaticString = #filePath, line: UInt = #line, _ body: (StoreFixture) throws -> Void) {
        let fixture = StoreFixture(kind)
        running = kind
        defer {
            running = nil
            fixture.tearDown()
        }
        do {
            try body(fixture)
        } catch {
            XCTFail("threw \(error)", file: file, line: line)
        }
    }

    /// A failure's description, with the store it happened on when a body is running.
    func describeFailure(_ description: String) -> String {
        running.map { "[\($0.rawValue) store] \(description)" } ?? description
    }

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int,
                                expected: Bool) {
        super.recordFailure(withDescription: describeFailure(description), inFile: filePath, atLine: lineNumber, expected: expected)
    }
}

/// The mechanism itself: every store is visited, and failures while a body runs name its store.
final class StoreTestCaseTests: StoreTestCase {
    func testEveryStoreIsVisitedWithAFreshFixture() {
        var kinds: [StoreKind] = []
        forEachStore { fixture in
            kinds.append(fixture.kind)
            XCTAssertEqual(fixture.clock.now, TestClock().now, "the clock a previous store's run moved")
            fixture.clock.advance(60)
        }
        XCTAssertEqual(kinds, [.inMemory, .mariaDB])
    }

    func testFailuresNameTheStoreTheyHappenedOn() {
        var described: [String] = []
        forEachStore { _ in described.append(describeFailure("XCTAssertEqual failed")) }
        XCTAssertEqual(described, ["[in-memory store] XCTAssertEqual failed", "[MariaDB store] XCTAssertEqual failed"])
        XCTAssertEqual(describeFailure("outside"), "outside")
    }
}
