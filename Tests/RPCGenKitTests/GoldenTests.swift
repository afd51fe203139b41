import Foundation
import RPCGenKit
import TestSupport
import XCTest

/// Small schemas in, expected files out. Set `UPDATE_GOLDEN=1` to rewrite the expected files
/// after a deliberate change to the emitters (then review the diff).
final class GoldenTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = TestEnvironment.packageRoot

    private func compile(_ relativePath: String) throws -> SchemaFile {
        let source = try String(contentsOf: Self.root.appendingPathComponent(relativePath), encoding: .utf8)
        return try SchemaCompiler.compile(source: source, path: relativePath)
    }

    private func assertGolden(_ actual: String, _ expectedFile: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try Data(actual.utf8).write(to: expectedFile)
            return
        }
        let expected = try String(contentsOf: expectedFile, encoding: .utf8)
        if actual != expected {
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(a, e).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset ?? min(a.count, e.count)
            let got = first < a.count ? String(a[first]) : "<end>"
            let want = first < e.count ? String(e[first]) : "<end>"
            XCTFail("\(expectedFile.lastPathComponent) differs at line \(first + 1):\n  got:  \(got)\n  want: \(want)",
                    file: file, line: line)
        }
    }

    func testGoldenSchemas() throws {
        for name in ["basic", "nested"] {
            let schema = try compile("Tests/RPCGenKitTests/Golden/\(name).proto")
            try assertGolden(SwiftEmitter().emit(schema), Self.folder.appendingPathComponent("Golden/\(name).swift.golden"))
            try assertGolden(PythonEmitter().emit(schema), Self.folder.appendingPathComponent("Golden/\(name).py.golden"))
        }
    }

    /// Maps, oneofs and streams, with package-prefixed names, and the file's descriptor constants.
    func testGoldenFeatures() throws {
        let schema = try compile("Tests/RPCGenKitTests/Golden/features.proto")
        try assertGolden(SwiftEmitter(packagePrefix: true).emit(schema), Self.folder.appendingPathComponent("Golden/features.swift.golden"))
        try assertGolden(SwiftDescriptorEmitter().emit(schema), Self.folder.appendingPathComponent("Golden/features.descriptor.swift.golden"))
    }

    /// The same schema split in two Swift files: messages and the server's side, then the client
    /// as an extension in a file that imports the first one's module.
    func testGoldenSplitSwift() throws {
        let schema = try compile("Tests/RPCGenKitTests/Golden/basic.proto")
        try assertGolden(SwiftEmitter(.api).emit(schema), Self.folder.appendingPathComponent("Golden/basic.api.swift.golden"))
        try assertGolden(SwiftEmitter(.client(apiModule: "GoldenAPI")).emit(schema),
                         Self.folder.appendingPathComponent("Golden/basic.client.swift.golden"))
    }

    /// The rpc options reach the schema model: an idempotency level, and `deprecated` accepted.
    func testIdempotencyLevelsAreParsed() throws {
        let schema = try compile("Tests/RPCGenKitTests/Golden/basic.proto")
        let levels = Dictionary(uniqueKeysWithValues: schema.services[0].methods.map { ($0.name, $0.idempotency) })
        XCTAssertEqual(levels, ["SayHello": .noSideEffects, "GetHTTPStatus": .unknown, "SetMood": .idempotent, "Forget": .unknown])
        let auth = try compile("schema/auth.proto")
        let safe = auth.services[0].methods.filter { $0.idempotency != .unknown }.map(\.name)
        XCTAssertEqual(safe, ["Status", "Validate", "Health", "ListSessions", "RevokeSession", "ListUsers", "DisableUser",
                              "EnableUser", "AuditEvents", "Keys"])
        XCTAssertEqual(auth.services[0].methods.filter { $0.idempotency == .idempotent }.map(\.name),
                       ["RevokeSession", "DisableUser", "EnableUser"])
    }

    /// The committed generated files are what the emitters make now (as `scripts/generate --check`).
    func testCommittedGeneratedFilesAreCurrent() throws {
        // (schema, Swift file and what it holds, Python file)
        let outputs: [(String, [(String, SwiftEmitter.Contents)], String)] = [
            ("schema/auth.proto",
             [("Sources/AuthAPI/Auth.rpc.swift", .api),
              ("clients/swift/AuthClient/Auth+Client.rpc.swift", .client(apiModule: "AuthAPI"))],
             "clients/python/auth_api.py"),
            ("Tests/RPCTransportTests/Schema/echo.proto", [("Tests/RPCTransportTests/Generated/Echo.rpc.swift", .all)],
             "clients/python/tests/echo_api.py"),
            ("Tests/RPCGenKitTests/Golden/alltypes.proto", [("Tests/RPCGenKitTests/Generated/AllTypes.rpc.swift", .all)],
             "clients/python/tests/alltypes_api.py"),
        ]
        for (schemaPath, swiftFiles, pythonPath) in outputs {
            let schema = try compile(schemaPath)
            for (swiftPath, contents) in swiftFiles {
                try assertGolden(SwiftEmitter(contents).emit(schema), Self.root.appendingPathComponent(swiftPath))
            }
            try assertGolden(PythonEmitter().emit(schema), Self.root.appendingPathComponent(pythonPath))
        }
    }

    func testOutputIsDeterministic() throws {
        let a = try compile("Tests/RPCGenKitTests/Golden/alltypes.proto")
        let b = try compile("Tests/RPCGenKitTests/Golden/alltypes.proto")
        XCTAssertEqual(SwiftEmitter().emit(a), SwiftEmitter().emit(b))
        XCTAssertEqual(PythonEmitter().emit(a), PythonEmitter().emit(b))
    }

    /// The golden Swift files compile against RPCCore (type-checked with the built module).
    func testGoldenSwiftTypeChecks() throws {
        let modules = Self.root.appendingPathComponent(".build/debug/Modules")
        guard FileManager.default.fileExists(atPath: modules.appendingPathComponent("RPCCore.swiftmodule").path) else {
            throw XCTSkip("no debug build of RPCCore at .build/debug/Modules")
        }
        let swiftc = URL(fileURLWithPath: "/opt/swift/usr/bin/swiftc")
        guard FileManager.default.isExecutableFile(atPath: swiftc.path) else { throw XCTSkip("no swiftc at \(swiftc.path)") }
        for name in ["basic", "nested"] {
            let dir = try TestEnvironment.makeTemporaryDirectory("golden")
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("\(name).swift")
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent("Golden/\(name).swift.golden"), to: file)
            let result = try ProcessRunner.run(swiftc, ["-typecheck", "-swift-version", "6", "-I", modules.path, file.path],
                                               timeout: 120)
            XCTAssertEqual(result.status, 0, "\(name).swift.golden does not type-check:\n\(result.stderr)")
        }
        // The split pair: the API file as module GoldenAPI, then the client file against it.
        let dir = try TestEnvironment.makeTemporaryDirectory("golden-split")
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = dir.appendingPathComponent("GoldenAPI.swift"), client = dir.appendingPathComponent("Client.swift")
        try FileManager.default.copyItem(at: Self.folder.appendingPathComponent("Golden/basic.api.swift.golden"), to: api)
        try FileManager.default.copyItem(at: Self.folder.appendingPathComponent("Golden/basic.client.swift.golden"), to: client)
        let module = try ProcessRunner.run(swiftc, ["-emit-module", "-module-name", "GoldenAPI", "-parse-as-library",
                                                    "-swift-version", "6", "-I", modules.path, "-emit-module-path",
                                                    dir.appendingPathComponent("GoldenAPI.swiftmodule").path, api.path],
                                           timeout: 120)
        XCTAssertEqual(module.status, 0, "basic.api.swift.golden does not compile as a module:\n\(module.stderr)")
        let result = try ProcessRunner.run(swiftc, ["-typecheck", "-swift-version", "6", "-I", modules.path, "-I", dir.path,
                                                    client.path], timeout: 120)
        XCTAssertEqual(result.status, 0, "basic.client.swift.golden does not type-check against GoldenAPI:\n\(result.stderr)")
    }

    /// The golden Python files are valid Python and import (with the authrpc runtime).
    func testGoldenPythonImports() throws {
        let python = try TestEnvironment.python()
        for name in ["basic", "nested"] {
            let path = Self.folder.appendingPathComponent("Golden/\(name).py.golden").path
            let script = """
                import importlib.util, sys
                sys.path.insert(0, "\(Self.root.appendingPathComponent("clients/python").path)")
                from importlib.machinery import SourceFileLoader
                loader = SourceFileLoader("golden_\(name)", "\(path)")
                spec = importlib.util.spec_from_loader(loader.name, loader)
                module = importlib.util.module_from_spec(spec)
                sys.modules[loader.name] = module
                loader.exec_module(module)
                """
            let result = try ProcessRunner.run(python, ["-c", script])
            XCTAssertEqual(result.status, 0, "\(name).py.golden does not import:\n\(result.stderr)")
        }
    }
}
