import RPCCore
import RPCDispatch
import XCTest

/// The method table: lookups by a frame's name bytes and by `String` find exact names only.
final class MethodTableTests: XCTestCase {
    func testMethodTableFindsExactNamesOnly() {
        let names = (0..<20).map { "pkg.v1.Service/Method\($0)" } + ["a/b", "auth.v1.Auth/Validate"]
        var methods: [String: ServerMethod] = [:]
        for name in names {
            methods[name] = ServerMethod(descriptor: MethodDescriptor(service: "s", method: name), kind: .inline) { _, _ in [] }
        }
        let table = MethodTable(methods)
        XCTAssertEqual(table.count, names.count)
        for name in names {
            let found = Array(name.utf8).withUnsafeBytes { table.lookup($0) }
            XCTAssertEqual(found.map { String(decoding: $0.name, as: UTF8.self) }, name)
            XCTAssertTrue(table.lookup(name) === found, name)
        }
        for missing in ["", "a/", "a/bc", "auth.v1.Auth/validate", "pkg.v1.Service/Method20"] {
            XCTAssertNil(Array(missing.utf8).withUnsafeBytes { table.lookup($0) }, missing)
            XCTAssertNil(table.lookup(missing), missing)
        }
    }

    func testTableFromServicesKeysByFullName() {
        let table = MethodTable(services: [TestService(counter: Counter())])
        XCTAssertEqual(table.count, TestService.all.count)
        for method in TestService.all {
            XCTAssertEqual(table.lookup(method.fullName)?.method.descriptor, method)
        }
    }
}
