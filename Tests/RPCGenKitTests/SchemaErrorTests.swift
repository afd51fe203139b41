import RPCGenKit
import XCTest

/// Every refusal of the compiler, with its exact `file:line:column: message`.
final class SchemaErrorTests: XCTestCase {
    private let header = "syntax = \"proto3\";\n"

    private func assertError(_ body: String, _ expected: String, withHeader: Bool = true,
                             file: StaticString = #filePath, line: UInt = #line) {
        let source = (withHeader ? header : "") + body
        do {
            _ = try SchemaCompiler.compile(source: source, path: "t.proto")
            XCTFail("accepted, expected \(expected)", file: file, line: line)
        } catch let error as SchemaError {
            XCTAssertEqual(error.description, expected, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testSyntax() {
        assertError("syntax = \"proto2\";\n", "t.proto:1:10: only syntax \"proto3\" is supported, not \"proto2\"", withHeader: false)
        assertError("// no syntax\nmessage A {}\n",
                    "t.proto:2:1: expected 'syntax = \"proto3\";' first (proto2 and editions are not supported)", withHeader: false)
        assertError("import public \"other.proto\";\n", "t.proto:2:8: 'import 'public'' is not supported: use a plain import")
        assertError("import \"a.proto\";\nimport \"a.proto\";\n", "t.proto:3:8: \"a.proto\" is imported twice")
        assertError("message A {\n  int32 a = 1\n  int32 b = 2;\n}\n", "t.proto:4:3: expected ';' after the field 'a', found 'int32'")
        assertError("message A {\n  int32 a = 1;\n", "t.proto:4:1: expected '}' to close message 'A'")
        assertError("/* never closed\nmessage A {}\n", "t.proto:2:1: unterminated /* comment")
        assertError("message A {\n  int32 a = 1; $\n}\n", "t.proto:3:16: unexpected character '$'")
        assertError("package a;\npackage b;\n", "t.proto:3:1: a file has at most one 'package'")
        assertError("message A {\n  string s = 1 [(custom) = {a: 1}];\n}\n", "t.proto:3:28: aggregate option values are not supported")
    }

    func testUnsupportedFeatures() {
        assertError("message A {\n  oneof x {\n    repeated int32 a = 1;\n  }\n}\n", "t.proto:4:5: fields in oneofs must not have labels")
        assertError("message A {\n  oneof x {\n  }\n}\n", "t.proto:3:9: oneof 'x' must have at least one field")
        assertError("message A {\n  map<double, int32> m = 1;\n}\n", "t.proto:3:7: a map key must be an integer, bool or string type, not 'double'")
        assertError("message A {\n  repeated map<string, int32> m = 1;\n}\n", "t.proto:3:12: a map field cannot be 'repeated'")
        assertError("message A {\n  message MEntry {}\n  map<string, int32> m = 1;\n}\n", "t.proto:4:22: 'MEntry' is already defined in 'A'")
        assertError("message A {\n  optional int32 a = 1;\n}\n",
                    "t.proto:3:3: 'optional' (explicit presence) is not supported: use a plain field")
        assertError("message A {\n  required int32 a = 1;\n}\n", "t.proto:3:3: 'required' is not allowed in proto3")
        assertError("enum E {\n  option allow_alias = true;\n  E_A = 0;\n}\n",
                    "t.proto:3:10: enum value aliases (allow_alias) are not supported")
        assertError("message A {\n  int32 a = 1 [default = 5];\n}\n", "t.proto:3:16: explicit default values are not allowed in proto3")
    }

    func testFieldNumbers() {
        assertError("message A {\n  int32 a = 0;\n}\n", "t.proto:3:13: field number 0 of 'a' is not allowed: numbers start at 1")
        assertError("message A {\n  int32 a = -1;\n}\n", "t.proto:3:13: field number -1 of 'a' is not allowed: numbers start at 1")
        assertError("message A {\n  int32 a = 19500;\n}\n",
                    "t.proto:3:13: field number 19500 of 'a' is in 19000 to 19999, reserved for the protobuf implementation")
        assertError("message A {\n  int32 a = 536870912;\n}\n",
                    "t.proto:3:13: field number 536870912 of 'a' is above the maximum 536870911 (2^29-1)")
        assertError("message A {\n  int32 a = 1;\n  int32 b = 1;\n}\n", "t.proto:4:13: field number 1 of 'b' is already used by 'a' in 'A'")
        assertError("message A {\n  reserved 2 to 4;\n  int32 a = 3;\n}\n", "t.proto:4:13: field number 3 of 'a' is reserved in 'A'")
        assertError("message A {\n  reserved 1, 10 to max;\n  int32 a = 99;\n}\n", "t.proto:4:13: field number 99 of 'a' is reserved in 'A'")
    }

    func testNames() {
        assertError("message A {\n  int32 a = 1;\n  string a = 2;\n}\n", "t.proto:4:10: 'a' is already defined in 'A'")
        assertError("message A {\n  reserved \"old\";\n  int32 old = 1;\n}\n", "t.proto:4:9: field name 'old' is reserved in 'A'")
        assertError("message A {\n  int32 foo_bar = 1;\n  int32 fooBar = 2;\n}\n",
                    "t.proto:4:9: the camel-case name of field 'fooBar' conflicts with field 'foo_bar'")
        assertError("message A {}\nenum A {\n  Z = 0;\n}\n", "t.proto:3:1: 'A' is already defined in this file")
        assertError("package p;\nmessage A {\n  message B {}\n  enum B {\n    Z = 0;\n  }\n}\n", "t.proto:5:3: 'B' is already defined in 'p.A'")
        assertError("enum A {\n  UNKNOWN = 0;\n}\nenum B {\n  UNKNOWN = 0;\n}\n",
                    "t.proto:6:3: enum value 'UNKNOWN' is already defined in this file")
        assertError("message String {}\n", "t.proto:2:1: 'String' would shadow a type the generated Swift code uses; choose another name")
        assertError("message A {\n  enum Method {\n    M = 0;\n  }\n}\n",
                    "t.proto:3:3: 'Method' would shadow a type the generated Swift code uses; choose another name")
        assertError("enum E {\n  E_ZERO = 0;\n  UNRECOGNIZED = 1;\n}\n",
                    "t.proto:4:3: 'UNRECOGNIZED' would become the Swift case 'unrecognized', which the generated enum uses itself")
        assertError("enum E {\n  A_B = 0;\n  A__B = 1;\n}\n", "t.proto:4:3: 'A__B' and 'A_B' both become the Swift case 'aB'")
        assertError("message \u{E9} {}\n", "t.proto:2:9: unexpected character '\u{E9}'")
        assertError("message A {}\nservice S {\n  rpc Get(A) returns (A);\n  rpc get(A) returns (A);\n}\n",
                    "t.proto:5:3: rpc 'get' conflicts with rpc 'Get' in service 'S'")
    }

    func testTypes() {
        assertError("message A {\n  Missing m = 1;\n}\n", "t.proto:3:3: unknown type 'Missing'")
        assertError("message A {\n  A.B x = 1;\n}\n", "t.proto:3:3: unknown type 'A.B'")
        assertError("message A {\n  repeated string s = 1 [packed = true];\n}\n",
                    "t.proto:3:26: [packed] is only allowed on repeated numeric or enum fields")
        assertError("message A {\n  repeated A a = 1 [packed = true];\n}\n",
                    "t.proto:3:21: [packed] is only allowed on repeated numeric or enum fields")
        assertError("message A {\n  A a = 1 [packed = true];\n}\n",
                    "t.proto:3:12: [packed] is only allowed on repeated numeric or enum fields")
        assertError("enum E {\n  E_ZERO = 0;\n}\nservice S {\n  rpc Get(E) returns (E);\n}\n", "t.proto:6:11: 'E' is not a message type")
        assertError("message A {}\nservice S {\n  rpc Get(A) returns (Nope);\n}\n", "t.proto:4:23: unknown type 'Nope'")
        assertError("service S {}\nmessage A {\n  S s = 1;\n}\n", "t.proto:4:3: 'S' is not a message or enum type")
    }

    func testEnums() {
        assertError("enum E {\n  E_ONE = 1;\n}\n", "t.proto:3:3: the first value of enum 'E' must be 0 in proto3 (it is the default)")
        assertError("enum E {\n  E_ZERO = 0;\n  E_NIL = 0;\n}\n",
                    "t.proto:4:3: 'E_NIL' uses the same number 0 as 'E_ZERO'; enum aliases are not supported")
        assertError("enum E {\n}\n", "t.proto:2:1: enum 'E' must have at least one value")
        assertError("enum E {\n  E_ZERO = 0;\n  E_BIG = 2147483648;\n}\n", "t.proto:4:11: enum value 2147483648 is out of the int32 range")
        assertError("enum E {\n  E_ZERO = 0;\n  reserved 5;\n  E_FIVE = 5;\n}\n", "t.proto:5:3: enum value number 5 of 'E_FIVE' is reserved in 'E'")
    }

    /// What protoc accepts and we do too: options, empty statements, qualified names, comments.
    func testAccepted() throws {
        let source = header + """
            package a.b;
            option java_package = "x.y";
            option (my.custom).opt = -1.5e3;
            ;
            message Outer {
              option deprecated = true;
              message Inner { int32 x = 1 [deprecated = true, json_name = "xx"]; }
              .a.b.Outer.Inner i = 1;
              b.Outer.Inner j = 2;
              repeated Kind kinds = 3 [packed = false];
              enum Kind { KIND_ZERO = 0; KIND_ONE = 1 [deprecated = true]; KIND_MINUS = -2; }
              reserved 10 to 20, 30;
              reserved "gone";
              repeated string names = 4 [packed = false];
              Inner single = 5 [packed = false];
            }
            service S { option deprecated = true; rpc M(Outer) returns (Outer.Inner) { option idempotency_level = NO_SIDE_EFFECTS; } }
            """
        let schema = try SchemaCompiler.compile(source: source, path: "ok.proto")
        let outer = try XCTUnwrap(schema.messages.first)
        XCTAssertEqual(outer.fields.map(\.type), [.message("a.b.Outer.Inner"), .message("a.b.Outer.Inner"),
                                                   .enumeration("a.b.Outer.Kind"), .scalar(.string), .message("a.b.Outer.Inner")])
        XCTAssertFalse(outer.fields[2].isPacked)
        XCTAssertEqual(schema.services.first?.methods.first?.output, "a.b.Outer.Inner")
        XCTAssertEqual(schema.services.first?.methods.first?.idempotency, .noSideEffects)
    }

    /// An rpc body takes `idempotency_level` (protobuf's three levels, as identifiers) and
    /// `deprecated`, each once; anything else is refused at its position.
    func testRPCOptions() {
        let rpc = "message A {}\nservice S {\n  rpc M(A) returns (A) {\n    "
        assertError(rpc + "option idempotency_level = SAFE;\n  }\n}\n",
                    "t.proto:5:32: unknown idempotency_level 'SAFE': expected IDEMPOTENCY_UNKNOWN, NO_SIDE_EFFECTS or IDEMPOTENT")
        assertError(rpc + "option idempotency_level = \"IDEMPOTENT\";\n  }\n}\n",
                    "t.proto:5:32: unknown idempotency_level 'IDEMPOTENT': expected IDEMPOTENCY_UNKNOWN, NO_SIDE_EFFECTS or IDEMPOTENT")
        assertError(rpc + "option idempotency_level = 1;\n  }\n}\n",
                    "t.proto:5:32: unknown idempotency_level '1': expected IDEMPOTENCY_UNKNOWN, NO_SIDE_EFFECTS or IDEMPOTENT")
        assertError(rpc + "option idempotency_level = no_side_effects;\n  }\n}\n",
                    "t.proto:5:32: unknown idempotency_level 'no_side_effects': expected IDEMPOTENCY_UNKNOWN, NO_SIDE_EFFECTS or IDEMPOTENT")
        assertError(rpc + "option idempotency = IDEMPOTENT;\n  }\n}\n",
                    "t.proto:5:12: unknown rpc option 'idempotency': rpcgen knows idempotency_level and deprecated")
        assertError(rpc + "option (my.retry) = true;\n  }\n}\n",
                    "t.proto:5:12: unknown rpc option '(my.retry)': rpcgen knows idempotency_level and deprecated")
        assertError(rpc + "option deprecated = yes;\n  }\n}\n", "t.proto:5:25: option 'deprecated' takes true or false")
        assertError(rpc + "option idempotency_level = IDEMPOTENT;\n    option idempotency_level = NO_SIDE_EFFECTS;\n  }\n}\n",
                    "t.proto:6:12: option 'idempotency_level' is already set for rpc 'M'")
        assertError(rpc + "option idempotency_level = IDEMPOTENT\n  }\n}\n", "t.proto:6:3: expected ';' after the option, found '}'")
        assertError(rpc + "rpc N(A) returns (A);\n  }\n}\n", "t.proto:5:5: expected 'option' or '}', found 'rpc'")
        assertError(rpc + "option idempotency_level = IDEMPOTENT;\n", "t.proto:6:1: expected '}' to close rpc 'M'")
    }

    func testEmptyRPCBodies() throws {
        let source = header + "message A {}\nservice S {\n  rpc M(A) returns (A) {}\n  rpc N(A) returns (A) {};\n  rpc O(A) returns (A) { ; }\n}\n"
        let methods = try SchemaCompiler.compile(source: source, path: "ok.proto").services[0].methods
        XCTAssertEqual(methods.map(\.name), ["M", "N", "O"])
        XCTAssertEqual(methods.map(\.idempotency), [.unknown, .unknown, .unknown])
    }

    func testWindowsLineEndingsKeepPositions() {
        assertError("message A {\r\n  // doc\r\n  Missing m = 1;\r\n}\r\n", "t.proto:4:3: unknown type 'Missing'")
    }

    func testCommentsAttachToDeclarations() throws {
        let source = header + """
            // Detached: a blank line follows.

            // Leading 1
            /* Leading 2 */
            message A {
              int32 x = 1; // Trailing
              /**
               * Block
               * lines
               */
              int32 y = 2;
            }
            """
        let a = try XCTUnwrap(try SchemaCompiler.compile(source: source, path: "c.proto").messages.first)
        XCTAssertEqual(a.comments, ["Leading 1", "Leading 2"])
        XCTAssertEqual(a.fields[0].comments, ["Trailing"])
        XCTAssertEqual(a.fields[1].comments, ["Block", "lines"])
    }
}
