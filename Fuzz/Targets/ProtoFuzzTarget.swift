import RPCCore

/// Fuzz target: the protobuf decoder (RPCCore's wire runtime) through the generated AllTypes test
/// message, which has every field shape (AllTypes.rpc.swift is a link to the one RPCGenKitTests
/// compiles, generated from Tests/RPCGenKitTests/Golden/alltypes.proto). Whatever decodes must
/// re-encode to bytes that decode to the same value.
/// Run by libFuzzer (scripts/fuzz proto, the fuzz-proto executable) and over the committed corpus
/// by HardeningTests/FuzzCorpusReplayTests.
public enum ProtoFuzzTarget {
    public static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let message = try? AllTypes(serializedBytes: bytes) else { return }
        let encoded = message.serializedBytes()
        guard let again = try? AllTypes(serializedBytes: encoded), again.serializedBytes() == encoded else {
            fatalError("unstable round trip")
        }
    }
}
