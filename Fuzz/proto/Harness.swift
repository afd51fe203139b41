// libFuzzer target: the protobuf decoder (RPCCore's wire runtime) through the generated AllTypes
// test message, which has every field shape. Whatever decodes must re-encode to bytes that decode
// to the same value. Built by scripts/fuzz with RPCCore and Tests/RPCGenKitTests/Generated/AllTypes.rpc.swift.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProto(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let m = try? AllTypes(serializedBytes: UnsafeRawBufferPointer(start: data, count: size)) {
        let bytes = m.serializedBytes()
        guard let again = try? AllTypes(serializedBytes: bytes), again.serializedBytes() == bytes else {
            fatalError("unstable round trip")
        }
    }
    return 0
}
