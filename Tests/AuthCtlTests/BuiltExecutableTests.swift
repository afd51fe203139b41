import Foundation
import TestSupport
import XCTest

/// The end-to-end tests run the built authd and authctl: a missing build, or one behind the
/// sources, is refused with what to run, instead of testing a stale binary.
final class BuiltExecutableTests: XCTestCase {
    func testAMissingOrStaleBuildIsRefusedAndACurrentOneUsed() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("built")
        defer { try? FileManager.default.removeItem(at: directory) }
        let override = "BUILT_EXECUTABLE_TEST_UNSET"
        func check() throws -> URL { try TestEnvironment.builtExecutable("tool", override: override, in: directory) }
        XCTAssertThrowsError(try check()) { XCTAssertTrue("\($0)".contains("no tool in"), "\($0)") }

        // A build record as swift build leaves it: the product's object list, the module's outputs and source map.
        let fm = FileManager.default
        let module = directory.appendingPathComponent("Tool.build"), sources = directory.appendingPathComponent("Sources/Tool")
        try fm.createDirectory(at: module, withIntermediateDirectories: true)
        try fm.createDirectory(at: sources, withIntermediateDirectories: true)
        try fm.createDirectory(at: directory.appendingPathComponent("tool.product"), withIntermediateDirectories: true)
        let source = sources.appendingPathComponent("Tool.swift"), added = sources.appendingPathComponent("Added.swift")
        let object = module.appendingPathComponent("Tool.swift.o"), map = module.appendingPathComponent("output-file-map.json")
        try "let x = 1\n".write(to: source, atomically: true, encoding: .utf8)
        try "\(object.path)\n".write(to: directory.appendingPathComponent("tool.product/Objects.LinkFileList"),
                                    atomically: true, encoding: .utf8)
        try "{\"\": {}, \"\(source.path)\": {}}".write(to: map, atomically: true, encoding: .utf8)
        let tool = directory.appendingPathComponent("tool")
        XCTAssertTrue(fm.createFile(atPath: tool.path, contents: Data()))
        XCTAssertTrue(fm.createFile(atPath: object.path, contents: Data()))
        func at(_ seconds: TimeInterval, _ urls: URL...) throws {
            for url in urls { try fm.setAttributes([.modificationDate: Date(timeIntervalSince1970: seconds)], ofItemAtPath: url.path) }
        }
        // Built at 2,000,000 from a source of 1,000,000: current.
        try at(1_000_000, source)
        try at(2_000_000, object, map, tool)
        XCTAssertEqual(try check(), tool)
        // The source edited, no build since.
        try at(3_000_000, source)
        XCTAssertThrowsError(try check()) {
            XCTAssertTrue("\($0)".contains("\(source.path) changed since"), "\($0)")
            XCTAssertTrue("\($0)".contains("swift build --product tool"), "\($0)")
        }
        // Built again, but to the same object (a touched file): the module's outputs moved on, the binary did not.
        try at(4_000_000, map)
        XCTAssertEqual(try check(), tool)
        // The module recompiled, the binary not linked again.
        try at(5_000_000, object)
        XCTAssertThrowsError(try check()) { XCTAssertTrue("\($0)".contains("Tool.swift.o of Tool.build is newer"), "\($0)") }
        try at(5_000_000, tool)
        XCTAssertEqual(try check(), tool)
        // A file added to the module since its build.
        try "let y = 2\n".write(to: added, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try check()) { XCTAssertTrue("\($0)".contains("\(added.path) changed since"), "\($0)") }
    }

    /// The check reads swift build's own record of the real binaries (and so notices when that layout changes).
    func testTheBuiltAuthdAndAuthctlAreCheckedAndCurrent() throws {
        let debug = TestEnvironment.packageRoot.appendingPathComponent(".build/debug")
        for name in ["authd", "authctl"] {
            let record = debug.appendingPathComponent("\(name).product/Objects.LinkFileList")
            XCTAssertTrue(FileManager.default.fileExists(atPath: record.path), "no build record of \(name): \(record.path)")
            XCTAssertNoThrow(try TestEnvironment.builtExecutable(name, override: "BUILT_EXECUTABLE_TEST_UNSET"))
        }
    }
}
